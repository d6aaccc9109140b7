/*
 * Interface-bound UDP sockets for bootgate (Linux).
 *
 * Node's dgram can neither bind a socket to a network device nor report the interface a datagram arrived on
 * (nodejs/node#59670). A DHCP server on a gateway with a LAN and a WAN needs both: it must hear broadcasts
 * (so it binds 0.0.0.0), answer only on the LAN, and send its broadcast replies out of the LAN. This addon
 * opens a UDP socket with SO_BINDTODEVICE + IP_PKTINFO, polls it on Node's own libuv loop and hands each
 * datagram (with its ingress ifindex and destination address) to a JS callback. It also installs ARP entries
 * (SIOCSARP) so a reply can be unicast to a client that has no address yet, as dnsmasq does (RFC 2131 §4.1),
 * and sends IPv6 router advertisements from a raw ICMPv6 socket (iPXE waits ~13 s for one otherwise).
 *
 * With `linkSource` (the DHCP server's ports), datagrams are read from an AF_PACKET tap on the device instead,
 * so each one comes with its frame's Ethernet source (DHCP snooping: chaddr is whatever the sender wrote), and
 * the UDP socket only sends. The tap's classic BPF filter can refuse, in the kernel, directly attached DHCP
 * requests whose chaddr differs from the frame's source: a spoofing flood then never reaches user space, and
 * a second tap only counts and samples them.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <netinet/icmp6.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_DATAGRAM 65536

typedef struct {
  int fd;
  int icmp6; /* 1: raw ICMPv6 socket (router advertisements), 0: UDP */
  unsigned int ifindex;
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  napi_ref self;
  napi_async_context async_ctx;
  char ifname[IF_NAMESIZE];
  int closed;
  /* the AF_PACKET tap datagrams are read from (-1: read the UDP socket), and the mismatch counter tap */
  int pkt_fd;
  int mis_fd;
  unsigned char buf[MAX_DATAGRAM];
} iface_socket;

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value code, message, error;
  napi_create_string_utf8(env, what, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, NULL, message, &error);
  napi_value errnum;
  napi_create_int32(env, err, &errnum);
  napi_set_named_property(env, error, "errno", errnum);
  napi_throw(env, error);
  return NULL;
}

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

/* Calls the socket's JS callback with argv inside Node's async context; a throw becomes an uncaught exception. */
static void deliver(iface_socket *s, size_t argc, napi_value *argv) {
  napi_value cb, recv, result;
  napi_get_reference_value(s->env, s->callback, &cb);
  napi_get_global(s->env, &recv);
  if (napi_make_callback(s->env, s->async_ctx, recv, cb, argc, argv, &result) == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(s->env, &exc);
    napi_fatal_exception(s->env, exc);
  }
}

/*
 * libuv stops a poll handle whose fd reports POLLERR and calls back with a negative status. An AF_PACKET tap
 * gets ENETDOWN (sk_err) when its device goes administratively down (or is down when the tap is bound), and the
 * kernel hooks it in again at NETDEV_UP: clearing the error (SO_ERROR reads and resets it) and polling again keeps
 * the tap working across `ip link set dev down; … up`. Carrier loss alone (a bridge whose ports all went down)
 * raises no error. A deleted device never comes back to this fd: the appliance reopens its sockets then.
 */
static void rearm_after_error(iface_socket *s, int fd, uv_poll_cb cb) {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  uv_poll_start(&s->poll, UV_READABLE, cb);
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  iface_socket *s = (iface_socket *)handle->data;
  (void)events;
  if (s->closed) return;
  if (status < 0) { rearm_after_error(s, s->fd, on_readable); return; }
  napi_env env = s->env;
  for (int burst = 0; burst < 256; burst++) {
    struct sockaddr_in src;
    char control[CMSG_SPACE(sizeof(struct in_pktinfo))];
    struct iovec iov = {.iov_base = s->buf, .iov_len = sizeof s->buf};
    struct msghdr msg = {0};
    msg.msg_name = &src;
    msg.msg_namelen = sizeof src;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = recvmsg(s->fd, &msg, MSG_DONTWAIT);
    if (n < 0) return; /* EAGAIN or a transient error: wait for the next readable event */
    int ifindex = 0;
    struct in_addr dst = {0};
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
        struct in_pktinfo *pi = (struct in_pktinfo *)CMSG_DATA(c);
        ifindex = pi->ipi_ifindex;
        dst = pi->ipi_addr;
      }
    }
    napi_handle_scope scope;
    napi_open_handle_scope(env, &scope);
    napi_value argv[5];
    void *data;
    napi_create_buffer_copy(env, (size_t)n, s->buf, &data, &argv[0]);
    char addr[INET_ADDRSTRLEN], dstaddr[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &src.sin_addr, addr, sizeof addr);
    inet_ntop(AF_INET, &dst, dstaddr, sizeof dstaddr);
    napi_create_string_utf8(env, addr, NAPI_AUTO_LENGTH, &argv[1]);
    napi_create_int32(env, ntohs(src.sin_port), &argv[2]);
    napi_create_int32(env, ifindex, &argv[3]);
    napi_create_string_utf8(env, dstaddr, NAPI_AUTO_LENGTH, &argv[4]);
    deliver(s, 5, argv);
    napi_close_handle_scope(env, scope);
    if (s->closed) return;
  }
}

/* aa:bb:cc:dd:ee:ff, the form macToString gives in JS */
static void format_mac(char out[18], const unsigned char *a) {
  snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", a[0], a[1], a[2], a[3], a[4], a[5]);
}

static uint16_t ip_checksum(const unsigned char *p, size_t n, uint32_t sum) {
  for (; n > 1; p += 2, n -= 2) sum += (uint32_t)p[0] << 8 | p[1];
  if (n) sum += (uint32_t)p[0] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)sum;
}

/*
 * Datagrams from the tap: the IPv4 and UDP headers are checked here as the kernel's IP and UDP input would
 * (version, header length and checksum, total length, UDP length and checksum when present, RFC 768), since
 * a packet socket sees frames before IP input does. Frames to other hosts and our own are skipped.
 */
static void on_readable_link(uv_poll_t *handle, int status, int events) {
  iface_socket *s = (iface_socket *)handle->data;
  (void)events;
  if (s->closed) return;
  if (status < 0) { rearm_after_error(s, s->pkt_fd, on_readable_link); return; }
  napi_env env = s->env;
  for (int burst = 0; burst < 256; burst++) {
    struct sockaddr_ll sll;
    char control[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
    struct iovec iov = {.iov_base = s->buf, .iov_len = sizeof s->buf};
    struct msghdr msg = {0};
    msg.msg_name = &sll;
    msg.msg_namelen = sizeof sll;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = recvmsg(s->pkt_fd, &msg, MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) return;
    if (n > (ssize_t)sizeof s->buf || sll.sll_pkttype == PACKET_OUTGOING || sll.sll_pkttype == PACKET_OTHERHOST) continue;
    /* a frame from a local sender (veth, bridge) may carry a checksum still to be filled in, or one the
       driver already checked: PACKET_AUXDATA says so, as busybox udhcpc reads it */
    unsigned int tp_status = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
      if (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_AUXDATA) tp_status = ((struct tpacket_auxdata *)CMSG_DATA(c))->tp_status;
    const unsigned char *ip = s->buf;
    if (n < 28 || ip[0] >> 4 != 4) continue;
    size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
    size_t total = (size_t)ip[2] << 8 | ip[3];
    if (ihl < 20 || total < ihl + 8 || total > (size_t)n || ip_checksum(ip, ihl, 0) != 0xffff) continue;
    const unsigned char *udp = ip + ihl;
    size_t ulen = (size_t)udp[4] << 8 | udp[5];
    if (ulen < 8 || ulen > total - ihl) continue;
    if ((udp[6] | udp[7]) && !(tp_status & (TP_STATUS_CSUMNOTREADY | TP_STATUS_CSUM_VALID))) {
      /* pseudo-header: source, destination, protocol, UDP length */
      uint32_t sum = 0;
      for (int i = 12; i < 20; i += 2) sum += (uint32_t)ip[i] << 8 | ip[i + 1];
      sum += IPPROTO_UDP + (uint32_t)ulen;
      if (ip_checksum(udp, ulen, sum) != 0xffff) continue;
    }
    napi_handle_scope scope;
    napi_open_handle_scope(env, &scope);
    napi_value argv[6];
    void *data;
    napi_create_buffer_copy(env, ulen - 8, udp + 8, &data, &argv[0]);
    char addr[INET_ADDRSTRLEN], dstaddr[INET_ADDRSTRLEN], mac[18] = "";
    inet_ntop(AF_INET, ip + 12, addr, sizeof addr);
    inet_ntop(AF_INET, ip + 16, dstaddr, sizeof dstaddr);
    if (sll.sll_halen == 6) format_mac(mac, sll.sll_addr);
    napi_create_string_utf8(env, addr, NAPI_AUTO_LENGTH, &argv[1]);
    napi_create_int32(env, (int32_t)((unsigned)udp[0] << 8 | udp[1]), &argv[2]);
    napi_create_int32(env, (int32_t)s->ifindex, &argv[3]);
    napi_create_string_utf8(env, dstaddr, NAPI_AUTO_LENGTH, &argv[4]);
    napi_create_string_utf8(env, mac, NAPI_AUTO_LENGTH, &argv[5]);
    deliver(s, 6, argv);
    napi_close_handle_scope(env, scope);
    if (s->closed) return;
  }
}

/*
 * Classic BPF for a tap on UDP `port` (the packet starts at the IPv4 header; SKF_LL_OFF reaches the Ethernet
 * header): unfragmented IPv4 UDP to the port, then, for a DHCP request sent directly (htype 1, hlen 6,
 * giaddr 0), whether chaddr equals the frame's Ethernet source. `which`: 0 = everything to the port, 1 = all
 * but mismatches, 2 = only mismatches. Accepted packets are cut to `snap` bytes. Returns the length.
 */
static int make_filter(struct sock_filter *f, int port, int which, uint32_t snap) {
  /* jump offsets count from the next instruction: J(from, to) */
#define J(from, to) ((uint8_t)((to) - (from) - 1))
  const int accept = which == 0 ? 9 : 23, drop = accept + 1;
  const int not_mismatch = which == 2 ? drop : accept, mismatch = which == 2 ? accept : drop;
  int n = 0;
  f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_H | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_PROTOCOL)); /* 0 */
  f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 0, J(1, drop));                 /* 1 */
  f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9);                                        /* 2 protocol */
  f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 0, J(3, drop));              /* 3 */
  f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6);                                        /* 4 flags, offset */
  f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, J(5, drop), 0);                 /* 5 a fragment */
  f[n++] = (struct sock_filter)BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0);                                       /* 6 X = IP header length */
  f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2);                                        /* 7 UDP destination port */
  f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)port, 0, J(8, drop));          /* 8 */
  if (which != 0) {
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_H | BPF_IND, 8 + 1);                                  /* 9 htype, hlen */
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0106, 0, J(10, not_mismatch));       /* 10 */
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_IND, 8 + 24);                                 /* 11 giaddr */
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, J(12, not_mismatch));            /* 12 relayed */
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_IND, 8 + 28);                                 /* 13 chaddr[0..3] */
    f[n++] = (struct sock_filter)BPF_STMT(BPF_ST, 0);                                                        /* 14 */
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_H | BPF_IND, 8 + 32);                                 /* 15 chaddr[4..5] */
    f[n++] = (struct sock_filter)BPF_STMT(BPF_ST, 1);                                                        /* 16 */
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_LL_OFF + 6));            /* 17 source[0..3] */
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LDX | BPF_MEM, 0);                                             /* 18 */
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_X, 0, 0, J(19, mismatch));                /* 19 */
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_H | BPF_ABS, (uint32_t)(SKF_LL_OFF + 10));           /* 20 source[4..5] */
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LDX | BPF_MEM, 1);                                             /* 21 */
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_X, 0, J(22, not_mismatch), J(22, mismatch)); /* 22 */
  }
  f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, snap); /* accept */
  f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0);    /* drop */
#undef J
  return n;
}

/* An AF_PACKET/SOCK_DGRAM tap on one device with a filter from make_filter; -1 if it cannot be opened. */
static int open_tap(unsigned int ifindex, int port, int which, uint32_t snap, int rcvbuf) {
  struct sock_filter code[32];
  struct sock_fprog prog = {.len = (unsigned short)make_filter(code, port, which, snap), .filter = code};
  /* protocol 0 at socket(): nothing is queued before the filter is attached and bind() names ETH_P_ALL */
  int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  int one = 1;
  setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof one);
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0) { close(fd); return -1; }
  struct sockaddr_ll ll = {0};
  ll.sll_family = AF_PACKET;
  ll.sll_protocol = htons(ETH_P_ALL);
  ll.sll_ifindex = (int)ifindex;
  if (bind(fd, (struct sockaddr *)&ll, sizeof ll) < 0) { close(fd); return -1; }
  return fd;
}

static void on_poll_closed(uv_handle_t *handle) {
  iface_socket *s = (iface_socket *)handle->data;
  free(s);
}

static void finalize_socket(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  iface_socket *s = (iface_socket *)data;
  /* close() already released everything; an unclosed socket is kept alive by its self reference. */
  (void)s;
}

static iface_socket *unwrap(napi_env env, napi_value v) {
  iface_socket *s = NULL;
  if (napi_unwrap(env, v, (void **)&s) != napi_ok || s == NULL || s->closed) return NULL;
  return s;
}

/*
 * Wraps an open, bound, non-blocking socket in a JS object and polls it on Node's libuv loop, calling
 * `poll_cb` when readable. Takes ownership of fd (closed on failure). NULL with a pending exception on failure.
 */
static napi_value watch_socket(napi_env env, int fd, int poll_fd, const char *ifname, int icmp6, unsigned int ifindex, napi_value callback,
                               const char *resource, uv_poll_cb poll_cb) {
  iface_socket *s = calloc(1, sizeof *s);
  if (!s) { close(fd); return throw_errno(env, "calloc", ENOMEM); }
  s->fd = fd;
  s->pkt_fd = -1;
  s->mis_fd = -1;
  s->icmp6 = icmp6;
  s->ifindex = ifindex;
  s->env = env;
  strncpy(s->ifname, ifname, IF_NAMESIZE - 1);
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  if (uv_poll_init(loop, &s->poll, poll_fd) != 0) { close(fd); free(s); return throw_errno(env, "uv_poll_init", EINVAL); }
  s->poll.data = s;
  napi_create_reference(env, callback, 1, &s->callback);
  napi_value obj, resname;
  napi_create_object(env, &obj);
  napi_wrap(env, obj, s, finalize_socket, NULL, NULL);
  napi_create_reference(env, obj, 1, &s->self);
  napi_create_string_utf8(env, resource, NAPI_AUTO_LENGTH, &resname);
  napi_async_init(env, obj, resname, &s->async_ctx);
  uv_poll_start(&s->poll, UV_READABLE, poll_cb);
  return obj;
}

/*
 * open(ifname: string, port: number, onMessage: Function, linkSource?: 0 | 1 | 2): object
 * linkSource (needs an ifname and CAP_NET_RAW): 1 = datagrams come from the tap with their Ethernet source as
 * onMessage's 6th argument; 2 = as 1, and DHCP requests whose chaddr is not their frame's source are refused in
 * the kernel (see linkStats). The object's `linkSource` says whether the tap is in use.
 */
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3) return throw_type(env, "open(ifname, port, onMessage) needs 3 arguments");
  char ifname[IF_NAMESIZE + 1] = {0};
  size_t iflen = 0;
  if (napi_get_value_string_utf8(env, argv[0], ifname, sizeof ifname, &iflen) != napi_ok)
    return throw_type(env, "ifname must be a string");
  if (iflen >= IF_NAMESIZE) return throw_type(env, "ifname too long");
  int32_t port;
  if (napi_get_value_int32(env, argv[1], &port) != napi_ok || port < 0 || port > 65535)
    return throw_type(env, "port must be 0..65535");
  napi_valuetype t;
  napi_typeof(env, argv[2], &t);
  if (t != napi_function) return throw_type(env, "onMessage must be a function");

  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  int one = 1;
  int rcvbuf = 4 * 1024 * 1024;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one) < 0) {
    int e = errno; close(fd); return throw_errno(env, "SO_BROADCAST", e);
  }
  if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) < 0) {
    int e = errno; close(fd); return throw_errno(env, "IP_PKTINFO", e);
  }
  if (iflen > 0 && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)iflen) < 0) {
    int e = errno; close(fd); return throw_errno(env, "SO_BINDTODEVICE", e);
  }
  struct sockaddr_in addr = {0};
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    int e = errno; close(fd); return throw_errno(env, "bind", e);
  }

  int32_t link = 0;
  if (argc >= 4) napi_get_value_int32(env, argv[3], &link);
  unsigned int ifindex = iflen > 0 ? if_nametoindex(ifname) : 0;
  int pkt_fd = -1, mis_fd = -1;
  if (link > 0 && ifindex) {
    pkt_fd = open_tap(ifindex, port, link == 2 ? 1 : 0, 0xffff, rcvbuf);
    /* the counter tap keeps little: it overflows under a flood, and PACKET_STATISTICS still counts every frame */
    if (pkt_fd >= 0 && link == 2) {
      mis_fd = open_tap(ifindex, port, 2, 128, 64 * 1024);
      if (mis_fd < 0) { close(pkt_fd); pkt_fd = -1; }
    }
    if (pkt_fd >= 0) {
      /* the UDP socket only sends (and keeps the port from answering ICMP unreachable): queue nothing on it */
      struct sock_filter none[] = {BPF_STMT(BPF_RET | BPF_K, 0)};
      struct sock_fprog prog = {.len = 1, .filter = none};
      setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog);
    }
  }

  napi_value obj = pkt_fd >= 0 ? watch_socket(env, fd, pkt_fd, ifname, 0, ifindex, argv[2], "bootgate:iface-link", on_readable_link)
                               : watch_socket(env, fd, fd, ifname, 0, ifindex, argv[2], "bootgate:iface-udp", on_readable);
  if (!obj) {
    if (pkt_fd >= 0) close(pkt_fd);
    if (mis_fd >= 0) close(mis_fd);
    return NULL;
  }
  iface_socket *sock = NULL;
  napi_unwrap(env, obj, (void **)&sock);
  sock->pkt_fd = pkt_fd;
  sock->mis_fd = mis_fd;
  napi_value linkv;
  napi_get_boolean(env, pkt_fd >= 0, &linkv);
  napi_set_named_property(env, obj, "linkSource", linkv);

  struct sockaddr_in bound;
  socklen_t blen = sizeof bound;
  getsockname(fd, (struct sockaddr *)&bound, &blen);
  napi_value portv;
  napi_create_int32(env, ntohs(bound.sin_port), &portv);
  napi_set_named_property(env, obj, "port", portv);
  return obj;
}

/* send(sock, buf, addr, port): 0 or errno (EAGAIN when the socket buffer is full: the caller counts a drop) */
static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], ret;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4) return throw_type(env, "send(sock, buf, addr, port) needs 4 arguments");
  iface_socket *s = unwrap(env, argv[0]);
  if (!s) return throw_type(env, "socket is closed");
  void *data; size_t len;
  if (napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) return throw_type(env, "buf must be a Buffer");
  char addr[INET_ADDRSTRLEN + 1] = {0};
  napi_get_value_string_utf8(env, argv[2], addr, sizeof addr, NULL);
  int32_t port;
  napi_get_value_int32(env, argv[3], &port);
  struct sockaddr_in to = {0};
  to.sin_family = AF_INET;
  to.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, addr, &to.sin_addr) != 1) return throw_type(env, "addr must be a dotted IPv4 address");
  ssize_t n = sendto(s->fd, data, len, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof to);
  napi_create_int32(env, n < 0 ? errno : 0, &ret);
  return ret;
}

/* setArp(sock, ip, mac: Buffer(6)): installs a complete ARP entry on the socket's device (dnsmasq's approach) */
static napi_value js_set_arp(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], ret;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3) return throw_type(env, "setArp(sock, ip, mac) needs 3 arguments");
  iface_socket *s = unwrap(env, argv[0]);
  if (!s) return throw_type(env, "socket is closed");
  char addr[INET_ADDRSTRLEN + 1] = {0};
  napi_get_value_string_utf8(env, argv[1], addr, sizeof addr, NULL);
  void *mac; size_t maclen;
  if (napi_get_buffer_info(env, argv[2], &mac, &maclen) != napi_ok || maclen != 6) return throw_type(env, "mac must be a 6-byte Buffer");
  struct arpreq req;
  memset(&req, 0, sizeof req);
  struct sockaddr_in *pa = (struct sockaddr_in *)&req.arp_pa;
  pa->sin_family = AF_INET;
  if (inet_pton(AF_INET, addr, &pa->sin_addr) != 1) return throw_type(env, "ip must be a dotted IPv4 address");
  req.arp_ha.sa_family = ARPHRD_ETHER;
  memcpy(req.arp_ha.sa_data, mac, 6);
  req.arp_flags = ATF_COM;
  memcpy(req.arp_dev, s->ifname, sizeof req.arp_dev);
  int rc = ioctl(s->fd, SIOCSARP, &req);
  napi_create_int32(env, rc < 0 ? errno : 0, &ret);
  return ret;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  iface_socket *s = NULL;
  if (argc < 1 || napi_unwrap(env, argv[0], (void **)&s) != napi_ok || s == NULL || s->closed) return NULL;
  s->closed = 1;
  uv_poll_stop(&s->poll);
  close(s->fd);
  if (s->pkt_fd >= 0) close(s->pkt_fd);
  if (s->mis_fd >= 0) close(s->mis_fd);
  napi_async_destroy(env, s->async_ctx);
  napi_delete_reference(env, s->callback);
  napi_delete_reference(env, s->self);
  napi_remove_wrap(env, argv[0], NULL);
  uv_close((uv_handle_t *)&s->poll, on_poll_closed);
  return NULL;
}


static void on_readable_icmp6(uv_poll_t *handle, int status, int events) {
  iface_socket *s = (iface_socket *)handle->data;
  (void)events;
  if (s->closed) return;
  if (status < 0) { rearm_after_error(s, s->fd, on_readable_icmp6); return; }
  napi_env env = s->env;
  for (int burst = 0; burst < 64; burst++) {
    struct sockaddr_in6 src;
    socklen_t slen = sizeof src;
    ssize_t n = recvfrom(s->fd, s->buf, sizeof s->buf, MSG_DONTWAIT, (struct sockaddr *)&src, &slen);
    if (n < 0) return;
    napi_handle_scope scope;
    napi_open_handle_scope(env, &scope);
    napi_value argv[2];
    void *data;
    napi_create_buffer_copy(env, (size_t)n, s->buf, &data, &argv[0]);
    char addr[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &src.sin6_addr, addr, sizeof addr);
    napi_create_string_utf8(env, addr, NAPI_AUTO_LENGTH, &argv[1]);
    deliver(s, 2, argv);
    napi_close_handle_scope(env, scope);
    if (s->closed) return;
  }
}

/*
 * openIcmp6(ifname, onMessage(buf, srcAddr)): a raw ICMPv6 socket on one interface for router advertisements
 * (RFC 4861 §6): hop limit 255 on everything sent, joined to ff02::2 so router solicitations arrive, and an
 * ICMPv6 filter that passes only router solicitations. The kernel fills in the ICMPv6 checksum.
 */
static napi_value js_open_icmp6(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) return throw_type(env, "openIcmp6(ifname, onMessage) needs 2 arguments");
  char ifname[IF_NAMESIZE + 1] = {0};
  size_t iflen = 0;
  if (napi_get_value_string_utf8(env, argv[0], ifname, sizeof ifname, &iflen) != napi_ok || iflen == 0 || iflen >= IF_NAMESIZE)
    return throw_type(env, "ifname must be an interface name");
  napi_valuetype t;
  napi_typeof(env, argv[1], &t);
  if (t != napi_function) return throw_type(env, "onMessage must be a function");
  unsigned int ifindex = if_nametoindex(ifname);
  if (ifindex == 0) return throw_errno(env, "if_nametoindex", errno);
  int fd = socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMPV6);
  if (fd < 0) return throw_errno(env, "socket(ICMPv6)", errno);
  int hops = 255;
  setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops);
  setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &hops, sizeof hops);
  int loop = 0;
  setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &loop, sizeof loop);
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)iflen) < 0) {
    int e = errno; close(fd); return throw_errno(env, "SO_BINDTODEVICE", e);
  }
  setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof ifindex);
  struct icmp6_filter filter;
  ICMP6_FILTER_SETBLOCKALL(&filter);
  ICMP6_FILTER_SETPASS(ND_ROUTER_SOLICIT, &filter);
  setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof filter);
  struct ipv6_mreq mreq;
  memset(&mreq, 0, sizeof mreq);
  inet_pton(AF_INET6, "ff02::2", &mreq.ipv6mr_multiaddr);
  mreq.ipv6mr_interface = ifindex;
  setsockopt(fd, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, &mreq, sizeof mreq);

  return watch_socket(env, fd, fd, ifname, 1, ifindex, argv[1], "bootgate:icmp6", on_readable_icmp6);
}

/* sendIcmp6(sock, buf, addr): 0 or errno; link-local destinations are scoped to the socket's interface */
static napi_value js_send_icmp6(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], ret;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3) return throw_type(env, "sendIcmp6(sock, buf, addr) needs 3 arguments");
  iface_socket *s = unwrap(env, argv[0]);
  if (!s || !s->icmp6) return throw_type(env, "not an open ICMPv6 socket");
  void *data; size_t len;
  if (napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) return throw_type(env, "buf must be a Buffer");
  char addr[INET6_ADDRSTRLEN + 1] = {0};
  napi_get_value_string_utf8(env, argv[2], addr, sizeof addr, NULL);
  struct sockaddr_in6 to;
  memset(&to, 0, sizeof to);
  to.sin6_family = AF_INET6;
  to.sin6_scope_id = s->ifindex;
  if (inet_pton(AF_INET6, addr, &to.sin6_addr) != 1) return throw_type(env, "addr must be an IPv6 address");
  ssize_t n = sendto(s->fd, data, len, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof to);
  napi_create_int32(env, n < 0 ? errno : 0, &ret);
  return ret;
}

/*
 * linkStats(sock): { refused: number, sources: string[] } — the chaddr mismatches the kernel refused since the
 * last call (every frame, from PACKET_STATISTICS, including those the small counter tap had no room for),
 * and the Ethernet sources of those it kept (a sample, at most 256).
 */
static napi_value js_link_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], ret, sources;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  iface_socket *s = argc >= 1 ? unwrap(env, argv[0]) : NULL;
  if (!s) return throw_type(env, "socket is closed");
  napi_create_object(env, &ret);
  napi_create_array(env, &sources);
  uint32_t refused = 0, kept = 0;
  if (s->mis_fd >= 0) {
    unsigned char pkt[128];
    for (int i = 0; i < 256; i++) {
      struct sockaddr_ll sll;
      socklen_t slen = sizeof sll;
      if (recvfrom(s->mis_fd, pkt, sizeof pkt, MSG_DONTWAIT, (struct sockaddr *)&sll, &slen) < 0) break;
      if (sll.sll_halen != 6 || sll.sll_pkttype == PACKET_OUTGOING) continue;
      char mac[18];
      format_mac(mac, sll.sll_addr);
      napi_value v;
      napi_create_string_utf8(env, mac, NAPI_AUTO_LENGTH, &v);
      napi_set_element(env, sources, kept++, v);
    }
    /* read after the drain: tp_packets counts every frame the filter accepted (queued or dropped), then resets */
    struct tpacket_stats st;
    socklen_t len = sizeof st;
    if (getsockopt(s->mis_fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) refused = st.tp_packets;
    if (refused < kept) refused = kept;
  }
  napi_value n;
  napi_create_uint32(env, refused, &n);
  napi_set_named_property(env, ret, "refused", n);
  napi_set_named_property(env, ret, "sources", sources);
  return ret;
}

/* ifindex(name): number (0 when unknown) */
static napi_value js_ifindex(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], ret;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char name[IF_NAMESIZE + 1] = {0};
  napi_get_value_string_utf8(env, argv[0], name, sizeof name, NULL);
  napi_create_uint32(env, if_nametoindex(name), &ret);
  return ret;
}

napi_value tftp_engine_init(napi_env env, napi_value exports); /* tftp_engine.c */
napi_value sendfile_init(napi_env env, napi_value exports);     /* sendfile.c */
napi_value original_dst_init(napi_env env, napi_value exports); /* original_dst.c */
napi_value dns_udp_init(napi_env env, napi_value exports);      /* dns_udp.c */

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
    {"send", NULL, js_send, NULL, NULL, NULL, napi_default, NULL},
    {"setArp", NULL, js_set_arp, NULL, NULL, NULL, napi_default, NULL},
    {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
    {"ifindex", NULL, js_ifindex, NULL, NULL, NULL, napi_default, NULL},
    {"linkStats", NULL, js_link_stats, NULL, NULL, NULL, napi_default, NULL},
    {"openIcmp6", NULL, js_open_icmp6, NULL, NULL, NULL, napi_default, NULL},
    {"sendIcmp6", NULL, js_send_icmp6, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return dns_udp_init(env, original_dst_init(env, sendfile_init(env, tftp_engine_init(env, exports))));
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
