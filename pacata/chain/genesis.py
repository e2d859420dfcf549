"""Genesis files: the parameters and opening state of a chain (docs/genesis.md).

A genesis file is UTF-8 JSON of at most 1 MiB, validated by a marshmallow schema that refuses
unknown keys and values outside the bounds of a working chain (`params.GENESIS_BOUNDS`, and the
lifetime checks below), and names the offending key in its error. The shipped files live in
`genesis/` (installed as package data at `pacata/genesis/`). The genesis block is derived from
the file alone, so every node that loads the same file agrees on the genesis hash without any
signature.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any

from marshmallow import Schema, ValidationError, validate, validates_schema
from marshmallow import fields as mfields

from pacata.chain.codec import MAX_U64
from pacata.chain.consensus import MAX_PRODUCERS, StakeEntry, StakeSnapshot, genesis_records
from pacata.chain.hashing import ZERO_HASH, tagged_hash
from pacata.chain.headers import BlockHeader
from pacata.chain.keys import Address
from pacata.chain.params import (
    DAY_MS,
    GENESIS_BOUNDS,
    MAX_EPOCH_MS,
    SUPPLY_HORIZON_MS,
    ChainParams,
)
from pacata.chain.state import TOTALS_KEY, Account, ChainTotals, Namespace, state_key
from pacata.documents import load_json_file, parse_json
from pacata.errors import DecodeError, DocumentError, InvalidGenesis
from pacata.json_fields import HexBytes32, describe_validation_errors

# The compressed secp256k1 generator: a valid point nobody holds the key to (its key is 1,
# which is public), standing as the "producer" of the unsigned genesis block.
GENESIS_PRODUCER = bytes.fromhex(
    "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
)
_PARAMS_TAG = b"pacata/genesis-params/v1"
# The last millisecond of the year 9999: a genesis time that can be written as a date.
MAX_TIMESTAMP_MS = 253_402_300_799_999
# Each is dialed, or warned about, at every start.
MAX_BOOTNODES = 64
MAX_BOOTNODE_CHARS = 300
_PARAM_NAMES = [f.name for f in fields(ChainParams) if f.name not in ("chain_id", "developer_fund")]


def _address(value: str) -> Address:
    try:
        return Address.from_string(value)
    except DecodeError as exc:
        raise ValidationError(f"not a pac1 address: {exc}") from None


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError("must be a string")
    return value


class _AddressField(mfields.Field[Address]):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Address:
        return _address(_text(value))


# Every amount is a uvarint of the codec; parse_genesis also bounds their sum.
_AMOUNT = validate.Range(0, MAX_U64)


def _param(name: str) -> mfields.Integer:
    low, high = GENESIS_BOUNDS[name]
    return mfields.Integer(strict=True, validate=validate.Range(low, high))


class _AccountSchema(Schema):
    address = _AddressField(required=True)
    balance = mfields.Integer(required=True, strict=True, validate=_AMOUNT)
    bond = mfields.Integer(load_default=0, strict=True, validate=_AMOUNT)
    vrf_public_key = HexBytes32(load_default=None)
    note = mfields.String(load_default="")

    @validates_schema
    def _bond_needs_key(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["bond"] and data["vrf_public_key"] is None:
            raise ValidationError("a bonded account needs its vrf_public_key", "vrf_public_key")


_ParamsSchema = Schema.from_dict(
    {
        "developer_fund": _AddressField(required=True),
        **{name: _param(name) for name in _PARAM_NAMES},
    },
    name="ParamsSchema",
)


class _GenesisSchema(Schema):
    chain_id = mfields.String(
        required=True,
        validate=validate.Regexp(r"^[a-z0-9][a-z0-9.-]{0,31}$", error="1-32 of a-z 0-9 . -"),
    )
    timestamp_ms = mfields.Integer(
        required=True, strict=True, validate=validate.Range(0, MAX_TIMESTAMP_MS)
    )
    params = mfields.Nested(_ParamsSchema, required=True)
    accounts = mfields.List(mfields.Nested(_AccountSchema), required=True)
    bootnodes = mfields.List(
        mfields.String(validate=validate.Length(max=MAX_BOOTNODE_CHARS)),
        load_default=list,
        validate=validate.Length(max=MAX_BOOTNODES),
    )
    description = mfields.String(load_default="")


@dataclass(frozen=True, slots=True)
class GenesisAccount:
    address: Address
    account: Account
    note: str = ""


@dataclass(frozen=True, slots=True)
class Genesis:
    params: ChainParams
    timestamp_ms: int
    accounts: tuple[GenesisAccount, ...]
    bootnodes: tuple[str, ...] = ()
    description: str = ""

    @property
    def chain_id(self) -> str:
        return self.params.chain_id

    def initial_state(self) -> dict[bytes, bytes]:
        """State key -> encoded record of the opening state."""
        state = {
            state_key(Namespace.ACCOUNT, entry.address.raw): entry.account.encode()
            for entry in self.accounts
        }
        supply = sum(e.account.balance + e.account.bond for e in self.accounts)
        state[TOTALS_KEY] = ChainTotals(minted=supply).encode()
        stakes = StakeSnapshot(
            tuple(
                StakeEntry(e.address, e.account.bond, e.account.vrf_public_key)
                for e in sorted(self.accounts, key=lambda e: e.address.raw)
                if e.account.bond
            )
        )
        state.update(genesis_records(self.params_digest(), stakes))
        return state

    def params_digest(self) -> bytes:
        """A commitment to the chain id and every consensus parameter (canonical JSON)."""
        values = {f.name: getattr(self.params, f.name) for f in fields(ChainParams)}
        values["developer_fund"] = str(self.params.developer_fund)
        canonical = json.dumps(values, sort_keys=True, separators=(",", ":"))
        return tagged_hash(_PARAMS_TAG, canonical.encode("utf-8"))

    def header(self, state_root: bytes) -> BlockHeader:
        # The genesis block has no transactions; its tx_root commits to the parameters instead,
        # so two chains that differ only in id or parameters have different genesis hashes.
        return BlockHeader(
            height=0,
            prev_hash=ZERO_HASH,
            slot=0,
            timestamp_ms=self.timestamp_ms,
            producer=GENESIS_PRODUCER,
            tx_root=self.params_digest(),
            state_root=state_root,
        )


def parse_genesis(document: Any, source: str = "genesis") -> Genesis:
    """A `Genesis` from a decoded JSON document; `InvalidGenesis` names every bad key."""
    try:
        data = _GenesisSchema().load(document)
    except ValidationError as exc:
        raise InvalidGenesis(
            f"{source}: " + "; ".join(describe_validation_errors(exc.messages))
        ) from None
    param_values = {name: data["params"][name] for name in _PARAM_NAMES if name in data["params"]}
    try:
        params = ChainParams(
            chain_id=data["chain_id"],
            developer_fund=data["params"]["developer_fund"],
            **param_values,
        )
    except ValueError as exc:
        raise InvalidGenesis(f"{source}: params: {exc}") from None
    accounts = []
    seen: set[Address] = set()
    for index, entry in enumerate(data["accounts"]):
        address = entry["address"]
        if address in seen:
            raise InvalidGenesis(f"{source}: accounts.{index}.address: {address} is listed twice")
        seen.add(address)
        if entry["bond"] and entry["bond"] < params.min_bond:
            raise InvalidGenesis(f"{source}: accounts.{index}.bond: below min_bond")
        account = Account(
            balance=entry["balance"],
            bond=entry["bond"],
            vrf_public_key=entry["vrf_public_key"] if entry["bond"] else b"",
        )
        accounts.append(GenesisAccount(address, account, entry["note"]))
    _check_lifetime(params, accounts, source)
    bonded = sum(1 for a in accounts if a.account.bond)
    if not bonded:
        raise InvalidGenesis(f"{source}: accounts: no bonded account, so no one could produce")
    if bonded > MAX_PRODUCERS:
        raise InvalidGenesis(f"{source}: accounts: more than {MAX_PRODUCERS} bonded accounts")
    return Genesis(
        params=params,
        timestamp_ms=data["timestamp_ms"],
        accounts=tuple(accounts),
        bootnodes=tuple(data["bootnodes"]),
        description=data["description"],
    )


def _check_lifetime(params: ChainParams, accounts: list[GenesisAccount], source: str) -> None:
    """Refuses parameters that only fail later: an epoch that never ends, or a supply that
    leaves the codec's range while the chain still runs (docs/genesis.md §Bounds)."""
    epoch_ms = params.epoch_slots * params.slot_ms
    if epoch_ms > MAX_EPOCH_MS:
        raise InvalidGenesis(
            f"{source}: params.epoch_slots: an epoch of {params.epoch_slots} slots of "
            f"{params.slot_ms} ms lasts more than {MAX_EPOCH_MS // DAY_MS} days"
        )
    supply = sum(a.account.balance + a.account.bond for a in accounts)
    minted = params.block_reward * (SUPPLY_HORIZON_MS // params.slot_ms)
    if supply + minted > MAX_U64:
        raise InvalidGenesis(
            f"{source}: the genesis supply ({supply}) plus a century of params.block_reward "
            f"({minted}) exceeds the largest amount, {MAX_U64} units"
        )


def load_genesis(path: Path | str) -> Genesis:
    """Reads and validates a genesis file; `InvalidGenesis` says what is wrong and where."""
    try:
        document = load_json_file(Path(path), "genesis file")
    except DocumentError as exc:
        raise InvalidGenesis(str(exc)) from None
    return parse_genesis(document, str(path))


def shipped_genesis(network: str) -> Genesis:
    """The genesis of a network shipped with Pacata (`devnet`, `testnet`)."""
    resource = resources.files("pacata").joinpath("genesis", f"{network}.json")
    if not resource.is_file():
        raise InvalidGenesis(f"no shipped genesis for network {network!r}")
    try:
        document = parse_json(resource.read_text(encoding="utf-8"))
    except DocumentError as exc:
        raise InvalidGenesis(f"shipped {network}.json: {exc}") from None
    return parse_genesis(document, f"{network}.json")
