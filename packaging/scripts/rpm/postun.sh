# pacata-mesh-vpn %postun ($1: 0 erase, 1 upgrade). RPM has no purge: /var/lib/pacata and a
# changed /etc/pacata/pacatad.toml (saved as .rpmsave) stay; delete them by hand.
if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
fi
exit 0
