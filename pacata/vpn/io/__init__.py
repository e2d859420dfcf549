"""The VPN plugin's I/O: TUN devices, links and routes (pyroute2), the UDP socket, the userspace
WireGuard engine's threads, its configuration socket, the daemon, and the kernel backend.

Everything with a file descriptor, a thread or a clock lives here; the protocol rules live in
the sans-I/O modules beside this package (`pacata/vpn/wireguard/`, `allowed_ips.py`,
`offload.py`, `uapi.py`, `config.py`).
"""
