"""The VPN plugin (DESIGN.md §7): the WireGuard data plane and what gates and meters it."""
