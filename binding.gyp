{
  "targets": [
    {
      "target_name": "bootgate_net",
      "sources": ["src/native/iface_udp.c", "src/native/tftp_engine.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
