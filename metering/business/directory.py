"""The provider's directory: who the parties are, what the types are called, and how each country is taxed.

The chain knows addresses and instance type ids; an accounts-payable clerk needs names, postal addresses, VAT ids,
payment terms and tax. Those are the provider's books, so they live in a file next to the rules files and never on
chain. The file is YAML (or JSON when it ends in ``.json``)::

    seller:                            # the provider, as it appears on every invoice
      name: Meterworks SAS
      address: ["12 rue de la Paix"]  # street lines
      postcode: "75002"
      city: Paris
      country: FR                      # ISO 3166-1 alpha-2
      vat_id: FR40123456824
      email: billing@meterworks.example   # optional
      iban: FR7630006000011234567890189   # optional: payment details on the invoice
      bic: AGRIFRPP                        # optional
    series: INV                        # optional: invoice number series (default INV)
    credit_note_series: CN             # optional (default CN)
    payment_terms_days: 30             # due date = issue date + this many days
    tax_rounding: per_total            # per_total (default) or per_line
    types: {1: db-server, 2: web-worker}
    tax:                               # by the customer's country; "default" for the rest
      FR: {treatment: standard, rate: "20"}
      DE: {treatment: reverse_charge}
      default: {treatment: exempt, reason: "Outside the scope of EU VAT"}
    customers:
      "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed":
        name: Acme GmbH
        address: ["Hauptstrasse 1"]
        postcode: "10115"
        city: Berlin
        country: DE
        vat_id: DE123456789            # required where the treatment is reverse charge
        email: ap@acme.example         # optional

Validation collects every problem and raises one :class:`~metering.errors.DirectoryError` with a line per problem,
each naming the file and the field (``directory.yaml: customers.0x5aAe...: vat_id: ...``), so a provider fixes the
file in one pass and no document is ever issued from half a directory. Tax rates are quoted decimal text (a YAML
``19.6`` is a binary float), at most two decimals, as EN 16931 states them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from metering._utils.strict_yaml import load_strict_yaml
from metering.errors import DirectoryError, RulesFileError

__all__ = [
    "DEFAULT_TAX_KEY",
    "Directory",
    "Party",
    "TaxRounding",
    "TaxRule",
    "Treatment",
    "load_directory",
    "parse_directory",
]

#: The ``tax`` key that applies to every country not listed.
DEFAULT_TAX_KEY = "default"
#: A tax rate in parts per million of the base: 20 % is 200,000 (exact for rates with at most four decimals).
RATE_SCALE = 1_000_000


class Treatment(StrEnum):
    """How a customer's country is taxed: VAT at a rate, reverse charge (the buyer accounts for it), or exempt."""

    STANDARD = "standard"
    REVERSE_CHARGE = "reverse_charge"
    EXEMPT = "exempt"


class TaxRounding(StrEnum):
    """Where tax is rounded to the minor unit: once on each category's total, or on each line and then summed."""

    PER_TOTAL = "per_total"
    PER_LINE = "per_line"


@dataclass(frozen=True)
class Party:
    """A seller or a buyer as an invoice names it."""

    name: str
    address: tuple[str, ...]
    postcode: str
    city: str
    country: str
    vat_id: str | None = None
    email: str | None = None

    @property
    def country_name(self) -> str:
        import pycountry

        found = pycountry.countries.get(alpha_2=self.country)
        return str(found.name) if found is not None else self.country


@dataclass(frozen=True)
class TaxRule:
    """The tax treatment of one country: ``rate`` in parts per million (0 unless standard), and the wording an
    invoice must carry for reverse charge or exemption."""

    treatment: Treatment
    rate: int = 0
    reason: str | None = None

    @property
    def rate_text(self) -> str:
        """The rate as a percentage without trailing zeros (``"20"``, ``"8.5"``)."""
        whole, part = divmod(self.rate, RATE_SCALE // 100)
        return f"{whole}.{part:04d}".rstrip("0").rstrip(".")


#: What an invoice says when the buyer accounts for the VAT (EN 16931 category AE, BT-120).
REVERSE_CHARGE_WORDING = "Reverse charge: VAT to be accounted for by the customer (Article 196, Directive 2006/112/EC)"


@dataclass(frozen=True)
class Directory:
    """A validated directory file (``source`` is its name for messages)."""

    source: str
    seller: Party
    iban: str | None
    bic: str | None
    series: str
    credit_note_series: str
    payment_terms_days: int
    tax_rounding: TaxRounding
    type_names: Mapping[int, str]
    tax: Mapping[str, TaxRule]
    customers: Mapping[str, Party]

    def customer(self, address: str) -> Party:
        """The buyer at ``address`` (any case).

        :raises DirectoryError: the directory does not name that customer.
        """
        from eth_utils.address import to_checksum_address

        party = self.customers.get(to_checksum_address(address))
        if party is None:
            raise DirectoryError([
                f"{self.source}: customers: no entry for {to_checksum_address(address)}: add its name, address, "
                "country (and VAT id) before issuing its invoice"
            ])
        return party

    def customer_name(self, address: str) -> str | None:
        """The legal name for ``address`` when the directory has one (for views that fall back to the address)."""
        from eth_utils.address import to_checksum_address

        try:
            party = self.customers.get(to_checksum_address(address))
        except ValueError:
            return None
        return party.name if party is not None else None

    def tax_rule(self, country: str) -> TaxRule:
        """The treatment of a buyer in ``country``: its own entry, else ``default``.

        :raises DirectoryError: neither exists.
        """
        rule = self.tax.get(country) or self.tax.get(DEFAULT_TAX_KEY)
        if rule is None:
            raise DirectoryError([f"{self.source}: tax: no treatment for {country} and no default: add one"])
        return rule


def load_directory(path: str | Path) -> Directory:
    """Reads and validates the directory file at ``path``.

    :raises DirectoryError: unreadable, not YAML/JSON, or invalid; one line per problem.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DirectoryError([f"{path}: no such directory file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DirectoryError([f"{path}: cannot read it ({exc})"]) from None
    return parse_directory(text, source=path.name, json_format=path.suffix.lower() == ".json")


def parse_directory(text: str, *, source: str = "<directory>", json_format: bool = False) -> Directory:
    """Validates a directory given as YAML (or JSON) text; ``source`` names it in messages."""
    try:
        data = json.loads(text) if json_format else load_strict_yaml(text)
    except RulesFileError as exc:
        raise DirectoryError([f"{source}: {exc}"]) from None
    except json.JSONDecodeError as exc:
        raise DirectoryError([f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"]) from None
    checker = _Checker(source)
    directory = checker.directory(data)
    if checker.problems or directory is None:
        raise DirectoryError(checker.problems)
    return directory


_TOP_KEYS = {"seller", "series", "credit_note_series", "payment_terms_days", "tax_rounding", "types", "tax",
             "customers"}
_TOP_REQUIRED = {"seller", "payment_terms_days", "types", "tax", "customers"}
_PARTY_KEYS = {"name", "address", "postcode", "city", "country", "vat_id", "email"}
_PARTY_REQUIRED = {"name", "address", "postcode", "city", "country"}
_SELLER_KEYS = _PARTY_KEYS | {"iban", "bic"}
_TAX_KEYS = {"treatment", "rate", "reason"}
#: The longest payment term accepted: a typo of 300 for 30 days is caught, a year is not refused.
MAX_PAYMENT_DAYS = 365
_SERIES_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


class _Checker:
    """Walks the parsed file, recording every problem (``file: field: message``) instead of stopping at the first."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(f"{self.source}: {path}: {message}" if path else f"{self.source}: {message}")

    def keys(self, path: str, data: Mapping[Any, Any], allowed: set[str], required: set[str]) -> None:
        for key in data:
            if key not in allowed:
                self.fail(f"{path}.{key}" if path else str(key),
                          f"unknown key (expected one of: {', '.join(sorted(allowed))})")
        for key in sorted(required - set(data)):
            self.fail(f"{path}.{key}" if path else key, "missing (required)")

    def text(self, path: str, value: Any, *, limit: int = 200) -> str | None:
        if not isinstance(value, str) or not value.strip():
            self.fail(path, f"must be non-empty text, got {value!r}")
            return None
        if len(value) > limit or any(ord(c) < 32 for c in value):
            self.fail(path, f"must be one line of at most {limit} characters")
            return None
        return value.strip()

    def optional_text(self, path: str, data: Mapping[str, Any], key: str) -> str | None:
        return self.text(f"{path}.{key}", data[key]) if key in data else None

    def country(self, path: str, value: Any) -> str | None:
        import pycountry

        if not isinstance(value, str) or pycountry.countries.get(alpha_2=value.strip().upper()) is None:
            self.fail(path, f"must be an ISO 3166-1 alpha-2 country code such as FR or DE, got {value!r}")
            return None
        return value.strip().upper()

    def party(self, path: str, data: Any, allowed: set[str]) -> Party | None:
        if not isinstance(data, Mapping):
            self.fail(path, "must be a mapping with name, address, postcode, city and country")
            return None
        before = len(self.problems)
        self.keys(path, data, allowed, _PARTY_REQUIRED)
        name = self.text(f"{path}.name", data.get("name")) if "name" in data else None
        address: list[str] = []
        raw_address = data.get("address")
        if isinstance(raw_address, str):
            raw_address = [raw_address]
        if "address" in data:
            if not isinstance(raw_address, list) or not 1 <= len(raw_address) <= 3:
                self.fail(f"{path}.address", "must be one to three street lines")
            else:
                for index, line in enumerate(raw_address):
                    checked = self.text(f"{path}.address[{index}]", line)
                    if checked is not None:
                        address.append(checked)
        postcode = self.text(f"{path}.postcode", _as_text(data.get("postcode"))) if "postcode" in data else None
        city = self.text(f"{path}.city", data.get("city")) if "city" in data else None
        country = self.country(f"{path}.country", data.get("country")) if "country" in data else None
        vat_id = self.optional_text(path, data, "vat_id")
        if vat_id is not None and (not vat_id[:2].isalpha() or not vat_id.isalnum()):
            self.fail(f"{path}.vat_id", f"must start with the country's two letters and hold letters and digits "
                                        f"only, got {vat_id!r}")
        email = self.optional_text(path, data, "email")
        if email is not None and ("@" not in email or " " in email):
            self.fail(f"{path}.email", f"is not an e-mail address: {email!r}")
        if len(self.problems) > before or name is None or postcode is None or city is None or country is None:
            return None
        return Party(name, tuple(address), postcode, city, country, vat_id, email)

    def tax_rule(self, path: str, data: Any) -> TaxRule | None:
        if not isinstance(data, Mapping):
            self.fail(path, "must be a mapping with a treatment (standard, reverse_charge or exempt)")
            return None
        self.keys(path, data, _TAX_KEYS, {"treatment"})
        raw = data.get("treatment")
        if raw not in {t.value for t in Treatment}:
            if "treatment" in data:
                self.fail(f"{path}.treatment", f"must be standard, reverse_charge or exempt, got {raw!r}")
            return None
        treatment = Treatment(raw)
        reason = self.optional_text(path, data, "reason")
        if treatment is Treatment.STANDARD:
            if "rate" not in data:
                self.fail(f"{path}.rate", "missing: a standard treatment needs a rate such as \"20\"")
                return None
            rate = self.rate(f"{path}.rate", data["rate"])
            return None if rate is None else TaxRule(treatment, rate, reason)
        if "rate" in data:
            self.fail(f"{path}.rate", f"only a standard treatment has a rate ({treatment} is 0 %)")
            return None
        if treatment is Treatment.EXEMPT and reason is None:
            self.fail(f"{path}.reason", "missing: an exempt invoice must say why (EN 16931 BT-120)")
            return None
        return TaxRule(treatment, 0, reason or REVERSE_CHARGE_WORDING)

    def rate(self, path: str, value: Any) -> int | None:
        from decimal import Decimal, InvalidOperation

        if not isinstance(value, str):
            self.fail(path, f"must be a percentage written as quoted text, e.g. \"20\", got {value!r}")
            return None
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            self.fail(path, f"is not a number: {value!r}")
            return None
        scaled = number * (RATE_SCALE // 100)
        if not number.is_finite() or not 0 < number < 100 or scaled != scaled.to_integral_value() \
                or number != number.quantize(Decimal("0.01")):
            self.fail(path, f"must be above 0 and below 100 with at most two decimals, got {value!r}")
            return None
        return int(scaled)

    def series(self, path: str, value: Any) -> str | None:
        if not isinstance(value, str) or not 1 <= len(value) <= 10 or not set(value) <= _SERIES_CHARS:
            self.fail(path, f"must be 1 to 10 upper-case letters or digits, got {value!r}")
            return None
        return value

    def directory(self, data: Any) -> Directory | None:
        if not isinstance(data, Mapping):
            self.fail("", "must be a mapping with seller, payment_terms_days, types, tax and customers")
            return None
        self.keys("", data, _TOP_KEYS, _TOP_REQUIRED)
        seller = self.party("seller", data["seller"], _SELLER_KEYS) if "seller" in data else None
        if seller is not None and seller.vat_id is None:
            self.fail("seller.vat_id", "missing: an EN 16931 invoice names the seller's VAT id")
        raw = data.get("seller")
        raw_seller: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        iban = self.optional_text("seller", raw_seller, "iban")
        bic = self.optional_text("seller", raw_seller, "bic")
        series = self.series("series", data.get("series", "INV"))
        credit_series = self.series("credit_note_series", data.get("credit_note_series", "CN"))
        if series is not None and series == credit_series:
            self.fail("credit_note_series", f"must differ from series ({series}): each series is numbered apart")
        days = data.get("payment_terms_days")
        if "payment_terms_days" in data and (isinstance(days, bool) or not isinstance(days, int)
                                             or not 0 <= days <= MAX_PAYMENT_DAYS):
            self.fail("payment_terms_days",
                      f"must be a whole number of days from 0 to {MAX_PAYMENT_DAYS}, got {days!r}")
        rounding = data.get("tax_rounding", TaxRounding.PER_TOTAL.value)
        if rounding not in {r.value for r in TaxRounding}:
            self.fail("tax_rounding", f"must be per_total or per_line, got {rounding!r}")
        types = self.types(data.get("types"))
        tax = self.tax(data.get("tax"))
        customers = self.customers(data.get("customers"), tax)
        if self.problems or seller is None or series is None or credit_series is None or types is None \
                or tax is None or customers is None or not isinstance(days, int):
            return None
        return Directory(self.source, seller, iban, bic, series, credit_series, days, TaxRounding(rounding), types,
                         tax, customers)

    def types(self, data: Any) -> dict[int, str] | None:
        if data is None:
            return None
        if not isinstance(data, Mapping) or not data:
            self.fail("types", "must map instance type ids to names, e.g. {1: db-server}")
            return None
        names: dict[int, str] = {}
        for key, name in data.items():
            kind = key if isinstance(key, int) and not isinstance(key, bool) else \
                int(key) if isinstance(key, str) and key.isdigit() else None
            if kind is None or not 0 <= kind <= 65535:
                self.fail(f"types.{key}", "must be an instance type id from 0 to 65535")
                continue
            checked = self.text(f"types.{key}", name, limit=60)
            if checked is not None:
                names[kind] = checked
        return names

    def tax(self, data: Any) -> dict[str, TaxRule] | None:
        if data is None:
            return None
        if not isinstance(data, Mapping) or not data:
            self.fail("tax", "must map customer countries (or default) to a treatment")
            return None
        rules: dict[str, TaxRule] = {}
        for key, spec in data.items():
            country = key if key == DEFAULT_TAX_KEY else self.country(f"tax.{key}", key)
            rule = self.tax_rule(f"tax.{key}", spec)
            if country is not None and rule is not None:
                rules[country] = rule
        return rules

    def customers(self, data: Any, tax: Mapping[str, TaxRule] | None) -> dict[str, Party] | None:
        from eth_utils.address import is_address, to_checksum_address

        if data is None:
            return None
        if not isinstance(data, Mapping):
            self.fail("customers", "must map customer addresses to their details")
            return None
        parties: dict[str, Party] = {}
        for key, spec in data.items():
            path = f"customers.{key}"
            if not isinstance(key, str) or not is_address(key):
                self.fail(path, "is not an address (0x and 40 hex digits; quote it in YAML)")
                continue
            address = to_checksum_address(key)
            if address in parties:
                self.fail(path, f"names {address} a second time")
                continue
            party = self.party(path, spec, _PARTY_KEYS)
            if party is None:
                continue
            parties[address] = party
            if tax is None:
                continue
            rule = tax.get(party.country) or tax.get(DEFAULT_TAX_KEY)
            if rule is None:
                self.fail(f"{path}.country", f"{party.country} has no entry under tax and there is no default")
            elif rule.treatment is Treatment.REVERSE_CHARGE and party.vat_id is None:
                self.fail(f"{path}.vat_id", f"missing: {party.country} is taxed by reverse charge, which needs the "
                                            "buyer's VAT id")
        return parties


def _as_text(value: Any) -> Any:
    """A postcode written as a YAML number (``75002``) is still a postcode; leading zeros are the writer's care."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value
