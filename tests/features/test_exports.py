"""The two export gallery files build with the exact commands the README documents.

Each command is read from the README section "Importing shop and till exports", run through the
CLI entry point, and the demand dataset it writes is checked against totals counted by hand
from the files (see tests/features/data/exports/README.md for what each file holds).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from anticipate.cli import app
from features.demand import DemandDataset
from features.storage import read_demand_dataset

ROOT = Path(__file__).resolve().parents[2]
SECTION = "## Importing shop and till exports"


@dataclass(frozen=True)
class Built:
    """One documented command, what it printed, and the demand dataset it wrote."""

    args: list[str]
    output: str
    demand: DemandDataset

    def y(self, series: str, day: str) -> float:
        panel = self.demand.panel
        row = panel[(panel["unique_id"] == series) & (panel["ds"] == pd.Timestamp(day))]
        assert len(row) == 1, f"{series} has no row on {day}"
        return float(row["y"].iloc[0])


def documented_commands() -> list[list[str]]:
    """The `anticipate data build` commands of the README section, as argument lists."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)
    joined = "\n".join(blocks).replace("\\\n", " ")
    return [shlex.split(line)[1:] for line in joined.splitlines() if "data build" in line]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Built]:
    """Run every documented command once (from the repository root, --out in a temp folder)."""
    runner = CliRunner()
    results = {}
    out_root = tmp_path_factory.mktemp("exports")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        for args in documented_commands():
            out = args[args.index("--out") + 1]
            target = out_root / out.replace("/", "_")
            run = [*args[: args.index("--out") + 1], str(target), *args[args.index("--out") + 2 :]]
            result = runner.invoke(app, run)
            assert result.exit_code == 0, result.output
            results[Path(out).name] = Built(run, result.output, read_demand_dataset(target))
    return results


def test_the_readme_documents_one_shop_and_two_till_commands() -> None:
    """The user relies on the README's commands being the ones this file runs."""
    commands = documented_commands()
    assert [c[c.index("--out") + 1] for c in commands] == [
        "data/shop",
        "data/till",
        "data/till-weekly",
    ]
    assert all(c[:2] == ["data", "build"] for c in commands)


def test_shopify_export_gives_one_series_per_sku(built: dict[str, Built]) -> None:
    """Five products, daily, with the price as the only exogenous column and the title kept."""
    shop = built["shop"].demand
    assert sorted(shop.panel["unique_id"].unique()) == [
        "BEANS-ETH-250",
        "BEANS-HOUSE-250",
        "DRIPPER-CER",
        "FILTER-02",
        "MUG-BLUE",
    ]
    assert shop.manifest.freq == "D"
    assert (shop.manifest.start, shop.manifest.end) == ("2026-02-16", "2026-04-12")
    assert shop.manifest.exogenous == ["Lineitem price"]
    titles = shop.static.set_index("unique_id")["Lineitem name"]
    assert titles["MUG-BLUE"] == 'Enamel mug "Blue Hour", 350 ml'


@pytest.mark.parametrize(
    ("series", "day", "units"),
    [
        # #1049 refunded (MUG-BLUE 1 + FILTER-02 3, status on its first line only) counts 0
        ("MUG-BLUE", "2026-03-03", 5.0),  # 2 (#1050) + 3 (#1051)
        ("FILTER-02", "2026-03-03", 3.0),  # 1 (#1051) + 1 (#1052) + 1 (#1053)
        ("DRIPPER-CER", "2026-03-10", 5.0),  # #1075 voided (1) counts 0; 3 (#1076) + 2 (#1079)
        ("DRIPPER-CER", "2026-03-20", 7.0),  # partially refunded #1108 (3) counts as sold, + 3 + 1
        ("MUG-BLUE", "2026-03-02", 1.0),  # #1047 at 00:26 +0100: 2 March locally, 1 March in UTC
        ("MUG-BLUE", "2026-03-01", 0.0),
    ],
)
def test_shopify_day_totals_match_the_file(
    built: dict[str, Built], series: str, day: str, units: float
) -> None:
    """Refunded and voided orders net to 0 within their day; dates are the shop's local dates."""
    assert built["shop"].y(series, day) == units


def test_shopify_notes_name_the_ignored_columns_once(built: dict[str, Built]) -> None:
    """The 57 unused columns are listed in one note, and the netted lines are counted."""
    output = " ".join(built["shop"].output.split())
    assert output.count("column(s) ignored") == 1
    assert "57 column(s) ignored (not named by --keep-col): Email, Paid at" in output
    assert "Receipt Number" in output and "Id," in output
    assert "3 voided, refunded or returned line(s)" in output


def test_till_export_gives_item_at_store_series_with_attributes(built: dict[str, Built]) -> None:
    """Article and shop name a series item@store; item and store become attributes."""
    till = built["till"].demand
    ids = set(till.panel["unique_id"])
    assert len(ids) == 10 and {"Brötchen@Altstadt", "Käsekuchen (Stück)@Bahnhof"} <= ids
    static = till.static.set_index("unique_id")
    assert static.loc["Laugenbrezel@Bahnhof", ["item", "store"]].tolist() == [
        "Laugenbrezel",
        "Bahnhof",
    ]
    assert till.manifest.exogenous == ["Einzelpreis"]  # not Bon-Nr, not the dropped Umsatz
    assert till.manifest.end == "2026-03-14"


@pytest.mark.parametrize(
    ("series", "day", "units"),
    [
        ("Laugenbrezel@Altstadt", "2026-02-05", 16.0),  # 24 sold, 8 of them Storno (row 150)
        ("Brötchen@Altstadt", "2026-02-04", 18.0),  # 19 sold, 1 Storno (row 92)
        ("Käsekuchen (Stück)@Bahnhof", "2026-02-10", 0.0),  # only a Storno of -2: clipped
        ("Brötchen@Altstadt", "2026-02-08", 0.0),  # a Sunday: closed
        ("Brötchen@Altstadt", "2026-03-14", 26.0),
    ],
)
def test_till_day_totals_net_storno_before_clipping(
    built: dict[str, Built], series: str, day: str, units: float
) -> None:
    """Storno lines are netted within the day; only then is a negative day set to 0."""
    assert built["till"].y(series, day) == units


def test_till_notes_report_receipts_netting_and_clipping_once(built: dict[str, Built]) -> None:
    """Bon-Nr is ignored as a receipt number in one note; netted lines and clipped days counted."""
    output = " ".join(built["till"].output.split())
    assert output.count("Bon-Nr") == 1
    assert "1 column(s) ignored: Bon-Nr (numbers that name receipts" in output
    assert "70 voided, refunded or returned line(s)" in output
    assert output.count("1 day total(s) with more returned than sold were set to 0") == 1


@pytest.mark.parametrize(
    ("series", "week", "units"),
    [
        ("Brötchen@Altstadt", "2026-03-09", 104.0),  # the last week, Monday to Saturday
        ("Laugenbrezel@Altstadt", "2026-02-02", 129.0),
        ("Käsekuchen (Stück)@Bahnhof", "2026-02-09", 30.0),  # the -2 day counts 0, not -2
    ],
)
def test_weekly_till_keeps_the_week_that_ends_on_closed_sunday(
    built: dict[str, Built], series: str, week: str, units: float
) -> None:
    """A shop closed on Sundays keeps its last week; week totals are sums of netted days."""
    weekly = built["till-weekly"]
    assert weekly.demand.manifest.freq == "W"
    assert weekly.demand.manifest.end == "2026-03-09"
    assert weekly.demand.manifest.dropped_units == 0.0
    assert weekly.y(series, week) == units
    assert "regular closing day(s) Sunday" in " ".join(weekly.output.split())
