/*
 * The original destination of a redirected TCP connection (Linux netfilter).
 *
 * nftables `redirect` rewrites a seat's connection to a web server into a connection to the gateway's
 * interceptor port; the address the seat dialled survives only in the connection's conntrack entry, which
 * getsockopt(SO_ORIGINAL_DST) (IPv4, <linux/netfilter_ipv4.h>) and IP6T_SO_ORIGINAL_DST (IPv6) read back.
 * Node's net module has no way to make that call, so the interceptors ask this addon with the socket's fd.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

/* originalDst(fd) → { address, port } or a negative errno (ENOENT: no conntrack entry, e.g. not redirected). */
static napi_value js_original_dst(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], ret;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "originalDst(fd): fd must be a non-negative integer");
    return NULL;
  }
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t len = sizeof ss;
  struct sockaddr_storage local;
  socklen_t llen = sizeof local;
  int family = AF_INET;
  if (getsockname(fd, (struct sockaddr *)&local, &llen) == 0) family = local.ss_family;
  int rc = family == AF_INET6 ? getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &ss, &len)
                              : getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &ss, &len);
  /* a dual-stack socket carrying IPv4 (::ffff:a.b.c.d) keeps its conntrack entry in the IPv4 table */
  if (rc != 0 && family == AF_INET6) {
    len = sizeof ss;
    rc = getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &ss, &len);
  }
  if (rc != 0) {
    napi_create_int32(env, -errno, &ret);
    return ret;
  }
  char text[INET6_ADDRSTRLEN] = {0};
  int port = 0;
  if (ss.ss_family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
    port = ntohs(a->sin6_port);
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
    port = ntohs(a->sin_port);
  }
  napi_value address, portv;
  napi_create_object(env, &ret);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &address);
  napi_create_int32(env, port, &portv);
  napi_set_named_property(env, ret, "address", address);
  napi_set_named_property(env, ret, "port", portv);
  return ret;
}

napi_value original_dst_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"originalDst", NULL, js_original_dst, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
