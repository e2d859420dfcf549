# pacata-mesh-vpn %post ($1: 1 install, 2 upgrade).
if [ ! -d /var/lib/pacata ]; then
    install -d -m 0700 -o pacata -g pacata /var/lib/pacata
fi
if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
fi
exit 0
