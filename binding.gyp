{
  "targets": [
    {
      "target_name": "bootgate_net",
      "sources": ["src/native/iface_udp.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
