"""The Pacata ledger: encodings, keys, transactions, blocks, state, storage and the chain.

Rules for everything in this package: integers only, canonical encodings, strict decoding,
no clock reads and no networking. A block applies completely or not at all.
"""
