{
  "targets": [
    {
      "target_name": "bootgate_net",
      "sources": ["src/native/iface_udp.c", "src/native/tftp_engine.c", "src/native/sendfile.c", "src/native/original_dst.c", "src/native/dns_udp.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
