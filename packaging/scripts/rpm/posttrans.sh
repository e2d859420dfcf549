# pacata-mesh-vpn %posttrans: start the node again if %pre stopped it for an upgrade.
unit=pacata-vpn.service
marker=/run/pacata-vpn.restart-after-upgrade
if [ -e "$marker" ]; then
    rm -f "$marker"
    if [ -d /run/systemd/system ]; then
        systemctl start "$unit" || true
    fi
fi
exit 0
