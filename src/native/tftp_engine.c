/*
 * The TFTP data path in C: one read transfer from an in-memory file (the server's hot-file cache), run on Node's
 * own libuv loop.
 *
 * Why: lock-step TFTP is one datagram per round trip, so the fixed cost per datagram decides the speed. Through
 * node:dgram each datagram costs a 64 KiB allocation, a second recvmsg returning EAGAIN, a JS callback with an
 * rinfo object and a microtask checkpoint, and each send a SendWrap; measured here that made bootgate 0.3× of
 * dnsmasq single-client and 0.4× in a 50-client storm (docs/bench/tftp.md). This engine does what a C server
 * does per datagram — recvfrom, sendto/sendmmsg — and calls into JS once, when the transfer ends.
 *
 * The protocol rules are the same as src/tftp/transfer.ts (the reference, used for files read from disk):
 *   - block numbers kept absolute and sent modulo 2^16, so the rollover past 65535 needs no special case;
 *   - DATA is sent only on a *new* ACK or when the retransmission timer fires, never on a duplicate ACK
 *     (RFC 1350 Sorcerer's Apprentice; check T2);
 *   - RFC 7440 §4: a partial ACK means the client saw a gap, so the next window starts after it;
 *   - RFC 2347: with an OACK, ACK 0 confirms it; an ERROR from the client (EDK2's tsize probe) ends at once;
 *   - RFC 1350 §4: a packet from another address/port gets ERROR 5 and the transfer goes on (check 23);
 *   - after the retries, a transfer whose every block but the last is acknowledged ends "unconfirmed".
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define OP_ACK 4
#define OP_ERROR 5
#define RECV_BUF 2048
/* packets handed to one sendmmsg call */
#define SEND_BATCH 64

enum stray { STRAY_FOREIGN_TID, STRAY_SHORT, STRAY_OPCODE, STRAY_ACK_BEFORE_OACK, STRAY_DUPLICATE_ACK, STRAY_ACK_AHEAD, STRAY_COUNT };
static const char *stray_names[STRAY_COUNT] = {"foreign_tid", "short_packet", "unexpected_opcode", "ack_before_oack", "duplicate_ack", "ack_ahead"};

enum end_reason { END_NONE, END_OK, END_UNCONFIRMED, END_TIMEOUT, END_CLIENT_ERROR, END_STOPPED };
static const char *end_names[] = {"", "ok", "unconfirmed", "timeout", "client_error", "stopped"};

typedef struct {
  int fd;
  uv_poll_t poll;
  uv_timer_t timer;
  int handles_open; /* uv handles not yet closed */
  int js_alive;     /* the JS external still references this struct */
  napi_env env;
  napi_ref on_end;
  napi_ref data_ref;
  napi_async_context async_ctx;
  const uint8_t *data;
  size_t size;
  struct sockaddr_in client;
  uint32_t blksize, windowsize, timeout_ms, retries, tries;
  uint8_t *oack;
  size_t oack_len;
  int awaiting_oack;
  uint64_t acked, sent, last_block;
  uint64_t bytes_sent, retransmits;
  uint32_t strays[STRAY_COUNT];
  int end;
  uint16_t client_error_code;
  uint8_t recv_buf[RECV_BUF];
  uint8_t (*headers)[4];
  struct iovec (*iov)[2];
  struct mmsghdr *msgs;
} xfer;

static void maybe_free(xfer *x) {
  if (x->handles_open > 0 || x->js_alive) return;
  free(x->oack);
  free(x->headers);
  free(x->iov);
  free(x->msgs);
  free(x);
}

static void on_handle_closed(uv_handle_t *h) {
  xfer *x = (xfer *)h->data;
  x->handles_open--;
  maybe_free(x);
}

/* Stops the socket and timer; the struct lives until both handles are closed and JS dropped its reference. */
static void teardown(xfer *x) {
  uv_poll_stop(&x->poll);
  uv_timer_stop(&x->timer);
  close(x->fd);
  uv_close((uv_handle_t *)&x->poll, on_handle_closed);
  uv_close((uv_handle_t *)&x->timer, on_handle_closed);
  napi_delete_reference(x->env, x->data_ref);
  x->data_ref = NULL;
}

static void set_num(napi_env env, napi_value obj, const char *name, double v) {
  napi_value n;
  napi_create_double(env, v, &n);
  napi_set_named_property(env, obj, name, n);
}

/* Ends the transfer once: tears down, then tells JS {reason, acked, bytesSent, retransmits, strays, errorCode}. */
static void finish(xfer *x, int reason) {
  if (x->end != END_NONE) return;
  x->end = reason;
  teardown(x);
  napi_env env = x->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value result, strays, s, cb, recv, ret;
  napi_create_object(env, &result);
  napi_create_string_utf8(env, end_names[reason], NAPI_AUTO_LENGTH, &s);
  napi_set_named_property(env, result, "reason", s);
  set_num(env, result, "acked", (double)x->acked);
  set_num(env, result, "bytesSent", (double)x->bytes_sent);
  set_num(env, result, "retransmits", (double)x->retransmits);
  if (reason == END_CLIENT_ERROR) set_num(env, result, "errorCode", x->client_error_code);
  napi_create_object(env, &strays);
  for (int i = 0; i < STRAY_COUNT; i++)
    if (x->strays[i]) set_num(env, strays, stray_names[i], x->strays[i]);
  napi_set_named_property(env, result, "strays", strays);
  napi_get_reference_value(env, x->on_end, &cb);
  napi_get_global(env, &recv);
  napi_status st = napi_make_callback(env, x->async_ctx, recv, cb, 1, &result, &ret);
  napi_async_destroy(env, x->async_ctx);
  napi_delete_reference(env, x->on_end);
  if (st == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
  napi_close_handle_scope(env, scope);
}

static void arm_timer(xfer *x);

/* Sends blocks first..min(acked + windowsize, last_block) with sendmmsg, header and payload as two iovecs. */
static void send_from(xfer *x, uint64_t first, int retransmit) {
  uint64_t last = x->acked + x->windowsize;
  if (last > x->last_block) last = x->last_block;
  if (first > last) return;
  uint64_t bytes = 0;
  uint64_t b = first;
  while (b <= last) {
    unsigned int n = 0;
    for (; b <= last && n < SEND_BATCH; b++, n++) {
      size_t off = (size_t)(b - 1) * x->blksize;
      size_t len = off >= x->size ? 0 : (x->size - off < x->blksize ? x->size - off : x->blksize);
      uint8_t *h = x->headers[n];
      h[0] = 0; h[1] = 3; /* DATA */
      h[2] = (uint8_t)((b >> 8) & 0xff); h[3] = (uint8_t)(b & 0xff);
      x->iov[n][0].iov_base = h; x->iov[n][0].iov_len = 4;
      x->iov[n][1].iov_base = (void *)(x->data + (len ? off : 0)); x->iov[n][1].iov_len = len;
      memset(&x->msgs[n].msg_hdr, 0, sizeof x->msgs[n].msg_hdr);
      x->msgs[n].msg_hdr.msg_name = &x->client;
      x->msgs[n].msg_hdr.msg_namelen = sizeof x->client;
      x->msgs[n].msg_hdr.msg_iov = x->iov[n];
      x->msgs[n].msg_hdr.msg_iovlen = 2;
      bytes += len;
    }
    /* a full socket buffer (EAGAIN) or an ICMP-driven error: what did not leave is resent by the timer */
    int sent = sendmmsg(x->fd, x->msgs, n, MSG_DONTWAIT);
    if (sent < (int)n) break;
  }
  if (last > x->sent) x->sent = last;
  x->bytes_sent += bytes;
  if (retransmit) x->retransmits++;
  arm_timer(x);
}

static void send_oack(xfer *x) {
  sendto(x->fd, x->oack, x->oack_len, MSG_DONTWAIT, (struct sockaddr *)&x->client, sizeof x->client);
  arm_timer(x);
}

static void on_timer(uv_timer_t *t) {
  xfer *x = (xfer *)t->data;
  if (x->end != END_NONE) return;
  if (++x->tries > x->retries) {
    /* only the last block's ACK is missing (T5); an unacknowledged window of several blocks is a timeout */
    if (!x->awaiting_oack && x->sent == x->last_block && x->acked + 1 == x->last_block) return finish(x, END_UNCONFIRMED);
    return finish(x, END_TIMEOUT);
  }
  if (x->awaiting_oack) {
    x->retransmits++;
    return send_oack(x);
  }
  send_from(x, x->acked + 1, 1);
}

static void arm_timer(xfer *x) {
  uv_timer_start(&x->timer, on_timer, x->timeout_ms, 0);
}

static void on_ack(xfer *x, uint16_t wire) {
  if (x->awaiting_oack) {
    if (wire != 0) { x->strays[STRAY_ACK_BEFORE_OACK]++; return; }
    x->awaiting_oack = 0;
    x->tries = 0;
    return send_from(x, 1, 0);
  }
  uint16_t delta = (uint16_t)(wire - (uint16_t)(x->acked & 0xffff));
  if (delta == 0) { x->strays[STRAY_DUPLICATE_ACK]++; return; }
  uint64_t block = x->acked + delta;
  if (block > x->sent) { x->strays[STRAY_ACK_AHEAD]++; return; }
  x->acked = block;
  x->tries = 0;
  if (x->acked == x->last_block) return finish(x, END_OK);
  send_from(x, x->acked + 1, 0);
}

static void on_readable(uv_poll_t *h, int status, int events) {
  xfer *x = (xfer *)h->data;
  (void)events;
  if (x->end != END_NONE || status < 0) return;
  for (int burst = 0; burst < 256 && x->end == END_NONE; burst++) {
    struct sockaddr_in src;
    socklen_t slen = sizeof src;
    ssize_t n = recvfrom(x->fd, x->recv_buf, sizeof x->recv_buf, MSG_DONTWAIT, (struct sockaddr *)&src, &slen);
    if (n < 0) return;
    if (src.sin_addr.s_addr != x->client.sin_addr.s_addr || src.sin_port != x->client.sin_port) {
      static const uint8_t unknown_tid[] = {0, OP_ERROR, 0, 5, 'U', 'n', 'k', 'n', 'o', 'w', 'n', ' ', 't', 'r', 'a', 'n', 's', 'f', 'e', 'r', ' ', 'I', 'D', 0};
      sendto(x->fd, unknown_tid, sizeof unknown_tid, MSG_DONTWAIT, (struct sockaddr *)&src, slen);
      x->strays[STRAY_FOREIGN_TID]++;
      continue;
    }
    if (n < 4) { x->strays[STRAY_SHORT]++; continue; }
    uint16_t op = (uint16_t)(x->recv_buf[0] << 8 | x->recv_buf[1]);
    uint16_t num = (uint16_t)(x->recv_buf[2] << 8 | x->recv_buf[3]);
    if (op == OP_ERROR) {
      x->client_error_code = num;
      return finish(x, END_CLIENT_ERROR);
    }
    if (op != OP_ACK) { x->strays[STRAY_OPCODE]++; continue; }
    on_ack(x, num);
  }
}

static void finalize_external(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  xfer *x = (xfer *)data;
  x->js_alive = 0;
  maybe_free(x);
}

static napi_value throw_msg(napi_env env, const char *msg, int err) {
  char buf[256];
  if (err) snprintf(buf, sizeof buf, "%s: %s", msg, strerror(err));
  else snprintf(buf, sizeof buf, "%s", msg);
  napi_throw_error(env, NULL, buf);
  return NULL;
}

static int get_u32(napi_env env, napi_value obj, const char *name, uint32_t *out) {
  napi_value v;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok) return 0;
  return napi_get_value_uint32(env, v, out) == napi_ok;
}

/*
 * tftpSend({localAddress, clientAddress, clientPort, data: Buffer, blksize, windowsize, timeoutMs, retries,
 *           oack?: Buffer}, onEnd(result)) → {port, handle}
 * Binds a new socket (the transfer's TID, RFC 1350 §4) and sends the OACK or DATA 1 at once.
 */
static napi_value js_tftp_send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) return throw_msg(env, "tftpSend(options, onEnd) needs 2 arguments", 0);
  napi_valuetype t;
  napi_typeof(env, argv[1], &t);
  if (t != napi_function) return throw_msg(env, "onEnd must be a function", 0);
  napi_value v;
  char local[INET_ADDRSTRLEN + 1] = {0}, client[INET_ADDRSTRLEN + 1] = {0};
  napi_get_named_property(env, argv[0], "localAddress", &v);
  napi_get_value_string_utf8(env, v, local, sizeof local, NULL);
  napi_get_named_property(env, argv[0], "clientAddress", &v);
  napi_get_value_string_utf8(env, v, client, sizeof client, NULL);
  uint32_t client_port, blksize, windowsize, timeout_ms, retries;
  if (!get_u32(env, argv[0], "clientPort", &client_port) || client_port == 0 || client_port > 65535 ||
      !get_u32(env, argv[0], "blksize", &blksize) || blksize < 8 || blksize > 65464 ||
      !get_u32(env, argv[0], "windowsize", &windowsize) || windowsize < 1 || windowsize > 65535 ||
      !get_u32(env, argv[0], "timeoutMs", &timeout_ms) || timeout_ms < 1 ||
      !get_u32(env, argv[0], "retries", &retries))
    return throw_msg(env, "tftpSend: clientPort, blksize, windowsize, timeoutMs and retries must be in range", 0);
  napi_value data_v, oack_v;
  void *data;
  size_t size;
  napi_get_named_property(env, argv[0], "data", &data_v);
  if (napi_get_buffer_info(env, data_v, &data, &size) != napi_ok) return throw_msg(env, "tftpSend: data must be a Buffer", 0);
  void *oack = NULL;
  size_t oack_len = 0;
  bool has_oack = false;
  napi_has_named_property(env, argv[0], "oack", &has_oack);
  if (has_oack) {
    napi_get_named_property(env, argv[0], "oack", &oack_v);
    napi_typeof(env, oack_v, &t);
    if (t != napi_undefined && napi_get_buffer_info(env, oack_v, &oack, &oack_len) != napi_ok)
      return throw_msg(env, "tftpSend: oack must be a Buffer", 0);
  }
  struct sockaddr_in local_sa = {0}, client_sa = {0};
  local_sa.sin_family = AF_INET;
  client_sa.sin_family = AF_INET;
  client_sa.sin_port = htons((uint16_t)client_port);
  if (inet_pton(AF_INET, local, &local_sa.sin_addr) != 1 || inet_pton(AF_INET, client, &client_sa.sin_addr) != 1)
    return throw_msg(env, "tftpSend: localAddress and clientAddress must be dotted IPv4 addresses", 0);

  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_msg(env, "socket", errno);
  /* room for a whole window of the largest blocks, so a window is not cut short by the send buffer */
  int sndbuf = 4 * 1024 * 1024;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  if (bind(fd, (struct sockaddr *)&local_sa, sizeof local_sa) < 0) {
    int e = errno;
    close(fd);
    return throw_msg(env, "bind", e);
  }
  struct sockaddr_in bound;
  socklen_t blen = sizeof bound;
  getsockname(fd, (struct sockaddr *)&bound, &blen);

  xfer *x = calloc(1, sizeof *x);
  unsigned int batch = windowsize < SEND_BATCH ? windowsize : SEND_BATCH;
  if (x) {
    x->headers = calloc(batch, sizeof *x->headers);
    x->iov = calloc(batch, sizeof *x->iov);
    x->msgs = calloc(batch, sizeof *x->msgs);
    if (oack_len) x->oack = malloc(oack_len);
  }
  if (!x || !x->headers || !x->iov || !x->msgs || (oack_len && !x->oack)) {
    close(fd);
    if (x) { free(x->headers); free(x->iov); free(x->msgs); free(x->oack); free(x); }
    return throw_msg(env, "tftpSend: out of memory", 0);
  }
  if (oack_len) {
    memcpy(x->oack, oack, oack_len);
    x->oack_len = oack_len;
    x->awaiting_oack = 1;
  }
  x->fd = fd;
  x->env = env;
  x->data = data;
  x->size = size;
  x->client = client_sa;
  x->blksize = blksize;
  x->windowsize = windowsize;
  x->timeout_ms = timeout_ms;
  x->retries = retries;
  /* the final block is short, possibly empty: 1024 bytes at blksize 512 are blocks 1, 2 and an empty 3 */
  x->last_block = size / blksize + 1;
  napi_create_reference(env, data_v, 1, &x->data_ref);
  napi_create_reference(env, argv[1], 1, &x->on_end);
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  uv_poll_init(loop, &x->poll, fd);
  uv_timer_init(loop, &x->timer);
  x->poll.data = x;
  x->timer.data = x;
  x->handles_open = 2;
  x->js_alive = 1;

  napi_value obj, handle, portv, resname;
  napi_create_object(env, &obj);
  napi_create_external(env, x, finalize_external, NULL, &handle);
  napi_create_string_utf8(env, "bootgate:tftp-transfer", NAPI_AUTO_LENGTH, &resname);
  napi_async_init(env, obj, resname, &x->async_ctx);
  napi_create_int32(env, ntohs(bound.sin_port), &portv);
  napi_set_named_property(env, obj, "port", portv);
  napi_set_named_property(env, obj, "handle", handle);
  uv_poll_start(&x->poll, UV_READABLE, on_readable);
  if (x->awaiting_oack) send_oack(x);
  else send_from(x, 1, 0);
  return obj;
}

/* tftpAbort(handle): ends the transfer now (server stop), sending nothing more; onEnd is called with "stopped". */
static napi_value js_tftp_abort(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  xfer *x = NULL;
  if (argc < 1 || napi_get_value_external(env, argv[0], (void **)&x) != napi_ok || x == NULL) return NULL;
  finish(x, END_STOPPED);
  return NULL;
}

/* tftpProgress(handle): {bytesSent, retransmits} so far, for live metrics (a resend is counted when it happens,
 * not only when the transfer ends — which may be many timeouts after the client has its file) */
static napi_value js_tftp_progress(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], ret;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  xfer *x = NULL;
  if (argc < 1 || napi_get_value_external(env, argv[0], (void **)&x) != napi_ok || x == NULL) return NULL;
  napi_create_object(env, &ret);
  set_num(env, ret, "bytesSent", (double)x->bytes_sent);
  set_num(env, ret, "retransmits", (double)x->retransmits);
  return ret;
}

napi_value tftp_engine_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"tftpSend", NULL, js_tftp_send, NULL, NULL, NULL, napi_default, NULL},
    {"tftpAbort", NULL, js_tftp_abort, NULL, NULL, NULL, napi_default, NULL},
    {"tftpProgress", NULL, js_tftp_progress, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
