# pacata-mesh-vpn %pre ($1: 1 install, 2 upgrade; docs/packaging.md).
unit=pacata-vpn.service
marker=/run/pacata-vpn.restart-after-upgrade

# The service's user and group (/usr/lib/sysusers.d/pacata-vpn.conf, not yet installed here).
if ! getent passwd pacata >/dev/null; then
    if command -v systemd-sysusers >/dev/null 2>&1; then
        echo 'u pacata - "Pacata Mesh VPN node" /var/lib/pacata /usr/sbin/nologin' \
            | systemd-sysusers --replace=/usr/lib/sysusers.d/pacata-vpn.conf -
    else
        useradd --system --user-group --home-dir /var/lib/pacata --no-create-home \
            --shell /usr/sbin/nologin --comment "Pacata Mesh VPN node" pacata
    fi
fi
# The node stops before its files are replaced; %posttrans starts it again.
if [ "$1" -ge 2 ] && [ -d /run/systemd/system ] && systemctl is-active --quiet "$unit"; then
    touch "$marker"
    systemctl stop "$unit"
fi
exit 0
