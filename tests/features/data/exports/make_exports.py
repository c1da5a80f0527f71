"""Write the two export gallery files (deterministic: the same bytes on every run).

    .venv/bin/python tests/features/data/exports/make_exports.py

`shopify_orders.csv`: a web shop's order export, one row per order line, Shopify's columns.
`kasse_export.csv`: a bakery till's line export, `;` separated, decimal comma, cp1252, closed on
Sundays, with Storno lines. The files are committed; the tests read them, not this script.
"""

from __future__ import annotations

import csv
import io
import random
from datetime import date, datetime, time, timedelta
from pathlib import Path

HERE = Path(__file__).parent

SHOPIFY_COLUMNS = [
    "Name",
    "Email",
    "Financial Status",
    "Paid at",
    "Fulfillment Status",
    "Fulfilled at",
    "Accepts Marketing",
    "Currency",
    "Subtotal",
    "Shipping",
    "Taxes",
    "Total",
    "Discount Code",
    "Discount Amount",
    "Shipping Method",
    "Created at",
    "Lineitem quantity",
    "Lineitem name",
    "Lineitem price",
    "Lineitem compare at price",
    "Lineitem sku",
    "Lineitem requires shipping",
    "Lineitem taxable",
    "Lineitem fulfillment status",
    "Billing Name",
    "Billing Street",
    "Billing Address1",
    "Billing Address2",
    "Billing Company",
    "Billing City",
    "Billing Zip",
    "Billing Province",
    "Billing Country",
    "Billing Phone",
    "Shipping Name",
    "Shipping Street",
    "Shipping Address1",
    "Shipping Address2",
    "Shipping Company",
    "Shipping City",
    "Shipping Zip",
    "Shipping Province",
    "Shipping Country",
    "Shipping Phone",
    "Notes",
    "Note Attributes",
    "Cancelled at",
    "Payment Method",
    "Payment Reference",
    "Refunded Amount",
    "Vendor",
    "Outstanding Balance",
    "Employee",
    "Location",
    "Device ID",
    "Id",
    "Tags",
    "Risk Level",
    "Source",
    "Lineitem discount",
    "Tax 1 Name",
    "Tax 1 Value",
    "Phone",
    "Receipt Number",
]

#: sku, title (with commas and quotes, as shop titles have), price, vendor.
PRODUCTS = (
    ("BEANS-HOUSE-250", "House Blend, 250 g", "8.90", "Rösterei Nord"),
    ("BEANS-ETH-250", "Ethiopia Yirgacheffe, washed, 250 g", "11.50", "Rösterei Nord"),
    ("MUG-BLUE", 'Enamel mug "Blue Hour", 350 ml', "14.00", "Kiln & Co"),
    ("FILTER-02", "Paper filters, size 02 (100 pcs)", "5.90", "Kiln & Co"),
    ("DRIPPER-CER", "Ceramic dripper, white", "24.00", "Kiln & Co"),
)
CITIES = (("Berlin", "10115"), ("Hamburg", "20095"), ("Leipzig", "04109"), ("Köln", "50667"))
SHOP_FIRST = date(2026, 2, 16)  # a Monday
SHOP_DAYS = 56  # eight weeks, across the switch to summer time on 2026-03-29


def _offset(day: date) -> str:
    return "+0200" if day >= date(2026, 3, 29) else "+0100"


def _stamp(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} {_offset(moment.date())}"


def shopify_rows(rng: random.Random) -> list[list[str]]:
    """Orders of eight weeks; one refunded, one voided, one partly refunded order among them."""
    rows: list[list[str]] = []
    number, order_id = 1001, 5_810_000_000_000
    special = {date(2026, 3, 3): "refunded", date(2026, 3, 10): "voided"}
    for offset in range(SHOP_DAYS):
        day = SHOP_FIRST + timedelta(days=offset)
        hours = sorted(rng.randint(7, 22) for _ in range(rng.randint(2, 5)))
        if day == date(2026, 3, 2):
            hours[0] = 0  # 00:xx local time, still the evening before in UTC
        for k, hour in enumerate(hours):
            created = datetime.combine(day, time(hour, rng.randint(0, 59), rng.randint(0, 59)))
            status = "paid"
            if k == 0 and day in special:
                status = special[day]
            elif k == 1 and day == date(2026, 3, 20):
                status = "partially_refunded"
            lines = rng.sample(
                PRODUCTS, 1 if status in ("refunded", "voided") else rng.randint(1, 3)
            )
            if status == "refunded":
                lines = [PRODUCTS[2], PRODUCTS[3]]  # two lines: the status is on the first only
            quantities = [rng.randint(1, 3) for _ in lines]
            subtotal = sum(float(p[2]) * q for p, q in zip(lines, quantities, strict=True))
            shipping = 0.0 if subtotal >= 40 else 4.90
            total = subtotal + shipping
            city, zip_code = rng.choice(CITIES)
            first, last = (
                rng.choice(("Anna", "Jonas", "Mia", "Lukas", "Zoe")),
                rng.choice(("Schmidt", "Weber", "Yilmaz", "Nowak", "Fischer")),
            )
            email = f"{first.lower()}.{last.lower()}{rng.randint(1, 99)}@example.org"
            for index, (product, quantity) in enumerate(zip(lines, quantities, strict=True)):
                sku, title, price, vendor = product
                head = index == 0
                order_level = {
                    "Financial Status": status,
                    "Paid at": _stamp(created + timedelta(minutes=1)),
                    "Fulfillment Status": "unfulfilled" if status == "voided" else "fulfilled",
                    "Fulfilled at": _stamp(created + timedelta(days=1)),
                    "Accepts Marketing": rng.choice(("yes", "no")),
                    "Currency": "EUR",
                    "Subtotal": f"{subtotal:.2f}",
                    "Shipping": f"{shipping:.2f}",
                    "Taxes": f"{total * 0.19 / 1.19:.2f}",
                    "Total": f"{total:.2f}",
                    "Discount Code": rng.choice(("", "", "", "WELCOME10")),
                    "Discount Amount": "0.00",
                    "Shipping Method": "DHL Paket",
                    "Billing Name": f"{first} {last}",
                    "Billing Street": f"Hauptstraße {rng.randint(1, 120)}",
                    "Billing Address1": f"Hauptstraße {rng.randint(1, 120)}",
                    "Billing City": city,
                    "Billing Zip": f"'{zip_code}",
                    "Billing Country": "DE",
                    "Billing Phone": f"+49 30 {rng.randint(1_000_000, 9_999_999)}",
                    "Shipping Name": f"{first} {last}",
                    "Shipping City": city,
                    "Shipping Zip": f"'{zip_code}",
                    "Shipping Country": "DE",
                    "Notes": rng.choice(("", "", "Bitte beim Nachbarn abgeben, danke!", "Gift")),
                    "Cancelled at": _stamp(created + timedelta(hours=2))
                    if status == "voided"
                    else "",
                    "Payment Method": "Shopify Payments",
                    "Payment Reference": f"c{order_id}.1",
                    "Refunded Amount": f"{total:.2f}" if status == "refunded" else "0.00",
                    "Outstanding Balance": "0.00",
                    "Id": str(order_id),
                    "Tags": rng.choice(("", "newsletter", "wholesale, repeat")),
                    "Risk Level": "Low",
                    "Source": "web",
                    "Tax 1 Name": "MwSt 19%",
                    "Tax 1 Value": f"{total * 0.19 / 1.19:.2f}",
                }
                line = {
                    "Name": f"#{number}",
                    "Email": email,
                    "Created at": _stamp(created),
                    "Lineitem quantity": str(quantity),
                    "Lineitem name": title,
                    "Lineitem price": price,
                    "Lineitem compare at price": "",
                    "Lineitem sku": sku,
                    "Lineitem requires shipping": "true",
                    "Lineitem taxable": "true",
                    "Lineitem fulfillment status": "pending" if status == "voided" else "fulfilled",
                    "Vendor": vendor,
                    "Lineitem discount": "0.00",
                    **(order_level if head else {}),
                }
                rows.append([line.get(column, "") for column in SHOPIFY_COLUMNS])
            number += 1
            order_id += rng.randint(1, 9_999)
    return rows


#: Article, unit price (cents), mean pieces per line.
ARTICLES = (
    ("Brötchen", 45, 6),
    ("Laugenbrezel", 95, 3),
    ("Roggenbrot 750 g", 420, 1),
    ("Croissant", 150, 2),
    ("Käsekuchen (Stück)", 320, 1),
)
TILL_FIRST = date(2026, 2, 2)  # a Monday
TILL_LAST = date(2026, 3, 14)  # a Saturday: the shops never open on Sundays


def _euro(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100},{abs(cents) % 100:02d}"


def till_rows(rng: random.Random) -> list[list[str]]:
    """Receipt lines of two shops, Monday to Saturday; a few lines are cancelled (Storno)."""
    rows: list[list[str]] = []
    receipt = 40_001
    day = TILL_FIRST
    while day <= TILL_LAST:
        if day.weekday() == 6:
            day += timedelta(days=1)
            continue
        for shop in ("Altstadt", "Bahnhof"):
            moments = sorted(
                datetime.combine(day, time(6, 30)) + timedelta(minutes=rng.randint(0, 690))
                for _ in range(rng.randint(9, 13))
            )
            if day == date(2026, 2, 10) and shop == "Bahnhof":
                # a cake sold on Monday comes back on Tuesday, when no cake is sold
                rows.append(
                    [
                        day.strftime("%d.%m.%Y"),
                        "08:02:11",
                        str(receipt),
                        shop,
                        "Käsekuchen (Stück)",
                        "-2",
                        "3,20",
                        "-6,40",
                        "Storno",
                    ]
                )
                receipt += 1
            for moment in moments:
                articles = rng.sample(ARTICLES, rng.randint(1, 3))
                if day == date(2026, 2, 10) and shop == "Bahnhof":
                    articles = [a for a in articles if not a[0].startswith("Käse")] or [ARTICLES[0]]
                for name, cents, mean in articles:
                    quantity = max(1, round(rng.expovariate(1 / mean)))
                    line = [moment.strftime("%d.%m.%Y"), f"{moment:%H:%M:%S}", str(receipt), shop]
                    rows.append(
                        [*line, name, str(quantity), _euro(cents), _euro(cents * quantity), ""]
                    )
                    if rng.random() < 0.04:
                        cancelled = rng.randint(1, quantity)
                        rows.append(
                            [
                                *line,
                                name,
                                str(-cancelled),
                                _euro(cents),
                                _euro(-cents * cancelled),
                                "Storno",
                            ]
                        )
                receipt += 1
        day += timedelta(days=1)
    return rows


def _csv_text(header: list[str], rows: list[list[str]], delimiter: str, newline: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=newline)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def main() -> None:
    """Write both files next to this script."""
    shop = _csv_text(SHOPIFY_COLUMNS, shopify_rows(random.Random(11)), ",", "\n")
    (HERE / "shopify_orders.csv").write_bytes(shop.encode("utf-8"))
    till_header = [
        "Datum",
        "Uhrzeit",
        "Bon-Nr",
        "Filiale",
        "Artikel",
        "Menge",
        "Einzelpreis",
        "Umsatz",
        "Status",
    ]
    till = _csv_text(till_header, till_rows(random.Random(7)), ";", "\r\n")
    (HERE / "kasse_export.csv").write_bytes(till.encode("cp1252"))


if __name__ == "__main__":
    main()
