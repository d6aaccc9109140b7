/*
 * sendfile(2) for HTTP boot bodies.
 *
 * Node has no sendfile: a streamed file is read into a user-space buffer and written back to the socket, two
 * copies per byte, and measured here that held bootgate at 0.68–0.74× nginx for 1 GiB images (docs/bench/http.md).
 * This sends [offset, offset+length) of an open file straight from the page cache to a connected TCP socket.
 *
 * The socket belongs to Node (libuv watches its fd for reading). libuv allows one handle per fd, so the body is
 * sent through a dup() of the fd, watched for writability by its own poll handle: epoll keys registrations by
 * (fd, open file), so the dup is a separate registration on the same socket. The caller guarantees Node has
 * nothing queued on the socket (headers already flushed) and writes nothing until the callback has run.
 * Each writable event sends at most SLICE bytes so one fast client cannot starve the event loop.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <unistd.h>

#define SLICE (8u * 1024 * 1024)

typedef struct {
  int sock; /* our dup of Node's socket fd */
  int file;
  off_t offset;
  size_t remaining;
  double sent;
  uv_poll_t poll;
  int poll_open;
  int js_alive;
  int ended;
  napi_env env;
  napi_ref cb;
  napi_async_context async_ctx;
} sf_job;

static void maybe_free(sf_job *j) {
  if (!j->poll_open && !j->js_alive) free(j);
}

static void on_closed(uv_handle_t *h) {
  sf_job *j = (sf_job *)h->data;
  j->poll_open = 0;
  maybe_free(j);
}

/* cb(errno: number, sent: number): errno 0 = every byte sent; ECANCELED = aborted by the caller */
static void finish(sf_job *j, int err) {
  if (j->ended) return;
  j->ended = 1;
  uv_poll_stop(&j->poll);
  int zero = 0; /* uncork: the last partial segment leaves now, not after the kernel's 200 ms */
  setsockopt(j->sock, IPPROTO_TCP, TCP_CORK, &zero, sizeof zero);
  close(j->sock);
  uv_close((uv_handle_t *)&j->poll, on_closed);
  napi_env env = j->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value argv[2], cb, recv, ret;
  napi_create_int32(env, err, &argv[0]);
  napi_create_double(env, j->sent, &argv[1]);
  napi_get_reference_value(env, j->cb, &cb);
  napi_get_global(env, &recv);
  napi_status st = napi_make_callback(env, j->async_ctx, recv, cb, 2, argv, &ret);
  napi_async_destroy(env, j->async_ctx);
  napi_delete_reference(env, j->cb);
  if (st == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
  napi_close_handle_scope(env, scope);
}

static void on_writable(uv_poll_t *h, int status, int events) {
  sf_job *j = (sf_job *)h->data;
  (void)events;
  if (j->ended) return;
  if (status < 0) return finish(j, EIO);
  size_t budget = SLICE;
  while (j->remaining > 0 && budget > 0) {
    size_t want = j->remaining < budget ? j->remaining : budget;
    ssize_t n = sendfile(j->sock, j->file, &j->offset, want);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return; /* the next writable event goes on */
      return finish(j, errno);                        /* EPIPE/ECONNRESET: the client went away */
    }
    if (n == 0) return finish(j, ENODATA); /* the file is shorter than promised: truncated under us */
    j->remaining -= (size_t)n;
    j->sent += (double)n;
    budget -= (size_t)n;
  }
  if (j->remaining == 0) finish(j, 0);
}

static void finalize_job(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  sf_job *j = (sf_job *)data;
  j->js_alive = 0;
  maybe_free(j);
}

static napi_value throw_msg(napi_env env, const char *msg, int err) {
  char buf[256];
  if (err) snprintf(buf, sizeof buf, "%s: %s", msg, strerror(err));
  else snprintf(buf, sizeof buf, "%s", msg);
  napi_throw_error(env, NULL, buf);
  return NULL;
}

/* sendfileStart(socketFd, fileFd, offset, length, cb(errno, sent)) → handle; the first write happens on the loop */
static napi_value js_sendfile_start(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 5) return throw_msg(env, "sendfileStart(socketFd, fileFd, offset, length, cb) needs 5 arguments", 0);
  int32_t sock, file;
  double offset, length;
  if (napi_get_value_int32(env, argv[0], &sock) != napi_ok || sock < 0 || napi_get_value_int32(env, argv[1], &file) != napi_ok || file < 0 ||
      napi_get_value_double(env, argv[2], &offset) != napi_ok || offset < 0 || napi_get_value_double(env, argv[3], &length) != napi_ok || length < 0)
    return throw_msg(env, "sendfileStart: fds, offset and length must be non-negative numbers", 0);
  napi_valuetype t;
  napi_typeof(env, argv[4], &t);
  if (t != napi_function) return throw_msg(env, "sendfileStart: cb must be a function", 0);
  int dupfd = fcntl(sock, F_DUPFD_CLOEXEC, 0);
  if (dupfd < 0) return throw_msg(env, "dup", errno);
  /* full segments only while the body streams (nginx's tcp_nopush); a non-TCP fd just refuses the option */
  int one = 1;
  setsockopt(dupfd, IPPROTO_TCP, TCP_CORK, &one, sizeof one);
  sf_job *j = calloc(1, sizeof *j);
  if (!j) {
    close(dupfd);
    return throw_msg(env, "sendfileStart: out of memory", 0);
  }
  j->sock = dupfd;
  j->file = file;
  j->offset = (off_t)offset;
  j->remaining = (size_t)length;
  j->env = env;
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  if (uv_poll_init(loop, &j->poll, dupfd) != 0) {
    close(dupfd);
    free(j);
    return throw_msg(env, "sendfileStart: uv_poll_init failed", 0);
  }
  j->poll.data = j;
  j->poll_open = 1;
  j->js_alive = 1;
  napi_create_reference(env, argv[4], 1, &j->cb);
  napi_value handle, resname;
  napi_create_external(env, j, finalize_job, NULL, &handle);
  napi_create_string_utf8(env, "bootgate:sendfile", NAPI_AUTO_LENGTH, &resname);
  napi_async_init(env, handle, resname, &j->async_ctx);
  uv_poll_start(&j->poll, UV_WRITABLE, on_writable);
  return handle;
}

/* sendfileAbort(handle): stops now; cb runs with ECANCELED (a no-op once it has run) */
static napi_value js_sendfile_abort(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  sf_job *j = NULL;
  if (argc < 1 || napi_get_value_external(env, argv[0], (void **)&j) != napi_ok || j == NULL) return NULL;
  finish(j, ECANCELED);
  return NULL;
}

napi_value sendfile_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"sendfileStart", NULL, js_sendfile_start, NULL, NULL, NULL, napi_default, NULL},
    {"sendfileAbort", NULL, js_sendfile_abort, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
