"""What the node shows of its peers' heights (`/api/peers`) stays current."""

from __future__ import annotations

from pacata.chain.genesis import shipped_genesis
from pacata.testing.ledger import ChainFactory
from pacata.testing.peer_network import MemoryNetwork

BLOCKS = ChainFactory(seed=12).blocks(3, transfers_per_block=1)


def test_a_peer_that_fetched_our_blocks_shows_its_current_height() -> None:
    # The peer does not announce back the blocks it took from us; /api/peers showed the
    # height of its hello for ever.
    net = MemoryNetwork(shipped_genesis("devnet"))
    net.add_node()
    net.add_node()
    producer, follower = net.nodes[0], net.nodes[1]
    net.connect(follower, producer)
    for block in BLOCKS[:3]:
        producer.ledger.import_block(block, block.encode())
        producer.network.chain_changed(net.now)
        net.settle()
    assert follower.chain.height == 3
    [info] = producer.network.peer_infos(net.now)
    assert info.tip_height == 3
