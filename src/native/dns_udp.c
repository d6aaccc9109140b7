/*
 * Batched UDP for the DNS resolver (Linux): recvmmsg/sendmmsg on a socket polled on Node's libuv loop.
 *
 * node:dgram costs a JS callback, a Buffer, an rinfo object and a sendto (plus a SendWrap and an address lookup)
 * per datagram; under dnsperf load the send path alone was 40% of the resolver's CPU. Here one readable event
 * reads up to BATCH datagrams with one recvmmsg into a JS-owned buffer (one slot of SLOT bytes each) and calls JS
 * once with the count; JS writes the replies it has at once into a second buffer and sends them with one
 * sendmmsg. Replies that come later (forwarded queries) go out with sendOne (sendto).
 *
 * Per-datagram metadata (META bytes each, big-endian), shared by the receive and the send side:
 *   0  u32 offset of the datagram in its data buffer      4  u16 length
 *   6  u8  0                                              7  u8  address family: 4 or 6
 *   8  u16 peer port                                      16 peer address (4 or 16 bytes)
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 32
#define SLOT 65536
#define META 32

typedef struct {
  int fd;
  int family;
  int closed;
  uv_poll_t poll;
  napi_env env;
  napi_ref callback, self, in_ref, in_meta_ref, out_ref, out_meta_ref;
  napi_async_context async_ctx;
  unsigned char *in, *in_meta, *out, *out_meta;
  size_t out_len;
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  struct sockaddr_in6 names[BATCH];
} dns_socket;

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value message, error, errnum;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, NULL, message, &error);
  napi_create_int32(env, err, &errnum);
  napi_set_named_property(env, error, "errno", errnum);
  napi_throw(env, error);
  return NULL;
}

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

static void put16(unsigned char *p, unsigned v) { p[0] = v >> 8; p[1] = v & 0xff; }
static void put32(unsigned char *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }
static unsigned get16(const unsigned char *p) { return (unsigned)p[0] << 8 | p[1]; }
static uint32_t get32(const unsigned char *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* The peer in META form -> a sockaddr; its length, 0 when the entry is not a valid address. */
static socklen_t meta_to_addr(const unsigned char *m, struct sockaddr_in6 *sa) {
  memset(sa, 0, sizeof *sa);
  if (m[7] == 4) {
    struct sockaddr_in *v4 = (struct sockaddr_in *)sa;
    v4->sin_family = AF_INET;
    v4->sin_port = htons(get16(m + 8));
    memcpy(&v4->sin_addr, m + 16, 4);
    return sizeof *v4;
  }
  if (m[7] == 6) {
    sa->sin6_family = AF_INET6;
    sa->sin6_port = htons(get16(m + 8));
    memcpy(&sa->sin6_addr, m + 16, 16);
    return sizeof *sa;
  }
  return 0;
}

static void addr_to_meta(const struct sockaddr_in6 *sa, unsigned char *m) {
  if (sa->sin6_family == AF_INET) {
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)sa;
    m[7] = 4;
    put16(m + 8, ntohs(v4->sin_port));
    memcpy(m + 16, &v4->sin_addr, 4);
  } else {
    m[7] = 6;
    put16(m + 8, ntohs(sa->sin6_port));
    memcpy(m + 16, &sa->sin6_addr, 16);
  }
}

static void on_closed(uv_handle_t *h) { free(h->data); }

static void shut(dns_socket *s) {
  if (s->closed) return;
  s->closed = 1;
  uv_poll_stop(&s->poll);
  close(s->fd);
  napi_ref refs[] = {s->callback, s->in_ref, s->in_meta_ref, s->out_ref, s->out_meta_ref};
  for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) napi_delete_reference(s->env, refs[i]);
  napi_async_destroy(s->env, s->async_ctx);
  napi_delete_reference(s->env, s->self);
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  dns_socket *s = data;
  if (!s->closed) shut(s);
  uv_close((uv_handle_t *)&s->poll, on_closed);
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  dns_socket *s = handle->data;
  (void)events;
  if (s->closed || status < 0) return;
  napi_env env = s->env;
  /* a bounded number of rounds per readable event, so one busy socket cannot starve the loop */
  for (int round = 0; round < 8; round++) {
    for (int i = 0; i < BATCH; i++) {
      s->iov[i].iov_base = s->in + (size_t)i * SLOT;
      s->iov[i].iov_len = SLOT;
      memset(&s->msgs[i].msg_hdr, 0, sizeof s->msgs[i].msg_hdr);
      s->msgs[i].msg_hdr.msg_iov = &s->iov[i];
      s->msgs[i].msg_hdr.msg_iovlen = 1;
      s->msgs[i].msg_hdr.msg_name = &s->names[i];
      s->msgs[i].msg_hdr.msg_namelen = sizeof s->names[i];
    }
    int n = recvmmsg(s->fd, s->msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) return; /* EAGAIN or a transient error: wait for the next readable event */
    for (int i = 0; i < n; i++) {
      unsigned char *m = s->in_meta + (size_t)i * META;
      memset(m, 0, META);
      put32(m, (uint32_t)i * SLOT);
      put16(m + 4, s->msgs[i].msg_len > 0xffff ? 0xffff : s->msgs[i].msg_len);
      addr_to_meta(&s->names[i], m);
    }
    napi_handle_scope scope;
    napi_open_handle_scope(env, &scope);
    napi_value cb, recv, argv[1], result;
    napi_get_reference_value(env, s->callback, &cb);
    napi_get_global(env, &recv);
    napi_create_int32(env, n, &argv[0]);
    if (napi_make_callback(env, s->async_ctx, recv, cb, 1, argv, &result) == napi_pending_exception) {
      napi_value exc;
      napi_get_and_clear_last_exception(env, &exc);
      napi_fatal_exception(env, exc);
    }
    napi_close_handle_scope(env, scope);
    if (s->closed || n < BATCH) return;
  }
}

static int buffer_ref(napi_env env, napi_value v, size_t min, unsigned char **data, size_t *len, napi_ref *ref) {
  void *d;
  if (napi_get_buffer_info(env, v, &d, len) != napi_ok || *len < min) return 0;
  *data = d;
  napi_create_reference(env, v, 1, ref);
  return 1;
}

/*
 * open(address: string, port: number, in: Buffer(BATCH*SLOT), inMeta: Buffer(BATCH*META), out: Buffer, outMeta:
 * Buffer(BATCH*META), onBatch: (count) => void): { port, batch, slot, meta }
 * Binds a UDP socket (IPv6 sockets are v6-only) and starts reading.
 */
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 7) return throw_type(env, "open(address, port, in, inMeta, out, outMeta, onBatch) needs 7 arguments");
  char addr[INET6_ADDRSTRLEN + 1] = {0};
  napi_get_value_string_utf8(env, argv[0], addr, sizeof addr, NULL);
  int32_t port;
  napi_get_value_int32(env, argv[1], &port);
  struct sockaddr_in6 sa;
  memset(&sa, 0, sizeof sa);
  socklen_t salen;
  int family;
  struct sockaddr_in *v4 = (struct sockaddr_in *)&sa;
  if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
    family = AF_INET;
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    salen = sizeof *v4;
  } else if (inet_pton(AF_INET6, addr, &sa.sin6_addr) == 1) {
    family = AF_INET6;
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons((uint16_t)port);
    salen = sizeof sa;
  } else
    return throw_type(env, "address must be an IPv4 or IPv6 literal");
  dns_socket *s = calloc(1, sizeof *s);
  if (!s) return throw_errno(env, "calloc", ENOMEM);
  size_t l;
  if (!buffer_ref(env, argv[2], (size_t)BATCH * SLOT, &s->in, &l, &s->in_ref) ||
      !buffer_ref(env, argv[3], (size_t)BATCH * META, &s->in_meta, &l, &s->in_meta_ref) ||
      !buffer_ref(env, argv[4], 1, &s->out, &s->out_len, &s->out_ref) ||
      !buffer_ref(env, argv[5], (size_t)BATCH * META, &s->out_meta, &l, &s->out_meta_ref)) {
    free(s); /* references already made are leaked with the failed call's buffers: a programming error */
    return throw_type(env, "buffers too small");
  }
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) { free(s); return throw_errno(env, "socket", errno); }
  int one = 1;
  if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  int bufsz = 4 << 20; /* room for bursts: the kernel caps it at net.core.[rw]mem_max */
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof bufsz);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof bufsz);
  if (bind(fd, (struct sockaddr *)&sa, salen) < 0) {
    int e = errno;
    close(fd);
    free(s);
    return throw_errno(env, "bind", e);
  }
  struct sockaddr_in6 bound;
  socklen_t blen = sizeof bound;
  getsockname(fd, (struct sockaddr *)&bound, &blen);
  s->fd = fd;
  s->family = family;
  s->env = env;
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  if (uv_poll_init(loop, &s->poll, fd) != 0) { close(fd); free(s); return throw_errno(env, "uv_poll_init", EINVAL); }
  s->poll.data = s;
  napi_create_reference(env, argv[6], 1, &s->callback);
  napi_value obj, resname, v;
  napi_create_object(env, &obj);
  napi_wrap(env, obj, s, finalize, NULL, NULL);
  napi_create_reference(env, obj, 1, &s->self);
  napi_create_string_utf8(env, "bootgate:dns-udp", NAPI_AUTO_LENGTH, &resname);
  napi_async_init(env, obj, resname, &s->async_ctx);
  napi_create_int32(env, ntohs(family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port : bound.sin6_port), &v);
  napi_set_named_property(env, obj, "port", v);
  napi_create_int32(env, BATCH, &v);
  napi_set_named_property(env, obj, "batch", v);
  napi_create_int32(env, SLOT, &v);
  napi_set_named_property(env, obj, "slot", v);
  napi_create_int32(env, META, &v);
  napi_set_named_property(env, obj, "meta", v);
  uv_poll_start(&s->poll, UV_READABLE, on_readable);
  return obj;
}

static dns_socket *unwrap(napi_env env, napi_value v) {
  dns_socket *s = NULL;
  if (napi_unwrap(env, v, (void **)&s) != napi_ok || s == NULL || s->closed) return NULL;
  return s;
}

/* send(sock, count): sends the first `count` entries of outMeta (data in out) with sendmmsg; returns how many went */
static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], ret;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  dns_socket *s = argc >= 2 ? unwrap(env, argv[0]) : NULL;
  int32_t count = 0;
  if (!s) { napi_create_int32(env, 0, &ret); return ret; }
  napi_get_value_int32(env, argv[1], &count);
  if (count > BATCH) count = BATCH;
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  struct sockaddr_in6 to[BATCH];
  int n = 0;
  for (int i = 0; i < count; i++) {
    const unsigned char *m = s->out_meta + (size_t)i * META;
    size_t off = get32(m), len = get16(m + 4);
    socklen_t tolen = meta_to_addr(m, &to[n]);
    if (tolen == 0 || off + len > s->out_len) continue;
    iov[n].iov_base = s->out + off;
    iov[n].iov_len = len;
    memset(&msgs[n].msg_hdr, 0, sizeof msgs[n].msg_hdr);
    msgs[n].msg_hdr.msg_iov = &iov[n];
    msgs[n].msg_hdr.msg_iovlen = 1;
    msgs[n].msg_hdr.msg_name = &to[n];
    msgs[n].msg_hdr.msg_namelen = tolen;
    n++;
  }
  int sent = 0;
  while (sent < n) {
    int r = sendmmsg(s->fd, msgs + sent, (unsigned)(n - sent), MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      break; /* EAGAIN (send buffer full) or an error for this peer: the rest are dropped, and counted by JS */
    }
    sent += r;
  }
  napi_create_int32(env, sent, &ret);
  return ret;
}

/* sendOne(sock, buf, meta: Buffer(META)): 0 or errno */
static napi_value js_send_one(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], ret;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  dns_socket *s = argc >= 3 ? unwrap(env, argv[0]) : NULL;
  if (!s) return throw_type(env, "socket is closed");
  void *data, *meta;
  size_t len, mlen;
  if (napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) return throw_type(env, "buf must be a Buffer");
  if (napi_get_buffer_info(env, argv[2], &meta, &mlen) != napi_ok || mlen < META) return throw_type(env, "meta must be a Buffer(32)");
  struct sockaddr_in6 to;
  socklen_t tolen = meta_to_addr(meta, &to);
  if (tolen == 0) return throw_type(env, "meta holds no address");
  ssize_t n = sendto(s->fd, data, len, MSG_DONTWAIT, (struct sockaddr *)&to, tolen);
  napi_create_int32(env, n < 0 ? errno : 0, &ret);
  return ret;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  dns_socket *s = argc >= 1 ? unwrap(env, argv[0]) : NULL;
  if (s) shut(s);
  return NULL;
}

napi_value dns_udp_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"dnsUdpOpen", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
    {"dnsUdpSend", NULL, js_send, NULL, NULL, NULL, napi_default, NULL},
    {"dnsUdpSendOne", NULL, js_send_one, NULL, NULL, NULL, napi_default, NULL},
    {"dnsUdpClose", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
