# pacata-mesh-vpn %preun ($1: 0 erase, 1 upgrade: the old package's files go after the new
# package's are in; %pre already stopped the node then).
unit=pacata-vpn.service
if [ "$1" -eq 0 ] && [ -d /run/systemd/system ]; then
    systemctl stop "$unit" || true
fi
exit 0
