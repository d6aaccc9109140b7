#!/usr/bin/env bash
# Provisions the Vagrant gateway: Node 20 (from NodeSource's Debian repository: Debian 12 ships Node 18),
# bootgate's npm dependencies, the demo boot images, and bootgate as a systemd service on eth1.
set -euo pipefail
GATEWAY_IP=$1
export DEBIAN_FRONTEND=noninteractive
if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  apt-get update -qq
  apt-get install -y -qq ca-certificates curl gnupg
  curl -fsSL https://deb.nodesource.com/setup_20.x | bash -
  apt-get install -y -qq nodejs
fi
apt-get install -y -qq python3 make g++ ipxe busybox-static cpio
cd /opt/bootgate
npm_config_nodedir=/usr npm ci --no-audit --no-fund
BOOTGATE_IMAGES=/srv/bootgate/images bash boot-images/build.sh
install -d /etc/bootgate /var/lib/bootgate
cat > /etc/bootgate/bootgate.yaml <<EOC
dataDir: /var/lib/bootgate
interfaces: { lan: eth1, wan: eth0 }
dhcp:
  subnet: 10.77.0.0/24
  range: { start: 10.77.0.100, end: 10.77.0.199 }
  router: ${GATEWAY_IP}
  dns: [${GATEWAY_IP}]
boot: { defaultProfile: demo }
profiles:
  demo: { kernel: vmlinuz, initrd: [initrd.gz], cmdline: "console=ttyS0 console=tty0 bootgate=\${bootgate}" }
tftp: { root: /srv/bootgate/images }
http: { listen: ${GATEWAY_IP}, port: 80 }
EOC
node bin/bootgate.js check-config /etc/bootgate/bootgate.yaml >/dev/null
cat > /etc/systemd/system/bootgate.service <<'EOC'
[Unit]
Description=bootgate netboot gateway
After=network-online.target
Wants=network-online.target

[Service]
ExecStart=/usr/bin/node /opt/bootgate/bin/bootgate.js serve --config /etc/bootgate/bootgate.yaml
Restart=on-failure
# thousands of proxied connections and tunnels: two descriptors each (the seat side and the upstream)
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
EOC
systemctl daemon-reload
systemctl enable --now bootgate
