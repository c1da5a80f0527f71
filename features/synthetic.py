"""Deterministic demo sales history of a small bakery chain plus its web shop.

It feeds demos, notebooks, benchmarks and tests with the quirks of real till exports: weekly and
yearly seasonality, trends, holiday closures, price changes, promotions, slow movers, launches,
discontinuations, catering spikes and missing days.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import holidays
import numpy as np
import pandas as pd

from features.schema import FREQUENCIES, ID, TARGET, TIME, period_start

PRICE = "price"
PROMO = "promo"
WEB = "web"
DEFAULT_START = "2023-01-02"  # a Monday
YEAR = 365.25
MIN_DAYS = 64  # every series keeps at least 60 rows after a till outage
LIFECYCLE_MIN_DAYS = 180  # shorter histories get no launches or discontinuations
LIFECYCLE_MARGIN = 90  # launches end this far before the end; discontinuations after the start
SHARE_LAUNCHED = 0.08
SHARE_DISCONTINUED = 0.06
SHARE_TRENDING = 0.10  # of items each clearly growing and clearly declining
CATERING_RATE = 0.02  # spikes per series and year
SUNDAY_SATURDAY_SHIFT = 1.15  # shops closed on Sunday sell more on Saturday
HOLIDAY_EVE_UPLIFT = 1.4  # last open day before a public holiday
WEB_HOLIDAY_FACTOR = 0.8
CHRISTMAS_PEAK = 6.0  # Christmas items sell this many times their level just before Christmas
SEASON_PEAK_DAY = {"summer": 196, "autumn": 250, "winter": 15}  # day of year
SEASON_WORDS = {  # first matching season wins; items without a match get a mild random wave
    "christmas": ("stollen", "christmas", "advent", "gingerbread", "mulled", "lebkuchen"),
    "summer": ("iced", "lemonade", "smoothie", "spritzer", "strawberry", "cold-brew", "rhubarb"),
    "autumn": ("plum", "pumpkin"),
    "winter": ("hot-chocolate", "chai", "ginger"),
}
CATERING_CATEGORIES = ("bread", "rolls", "cakes", "snacks", "gift-boxes")


@dataclass(frozen=True)
class _Category:
    """How one product category sells: demand, prices, clumpiness, week profile and names."""

    channel: str  # "shop" (bakery) or "web"
    demand: tuple[float, float]  # units a day at a typical store, log-uniform range
    cents: tuple[int, int]  # regular price range in cents
    shape: float  # negative-binomial shape: small values give clumpy, intermittent sales
    weekly: tuple[float, ...]  # Monday..Sunday demand factors
    staples: str  # best-known items first, space separated
    flavours: str
    forms: str  # further items are "flavour-form"


_SHOP_WEEK = (0.9, 0.85, 0.9, 0.95, 1.1, 1.5, 1.0)
_WEB_WEEK = (1.25, 1.15, 1.05, 1.0, 0.9, 0.7, 0.95)
# fmt: off
CATEGORIES: dict[str, _Category] = {
    "bread": _Category("shop", (8, 40), (250, 550), 30, _SHOP_WEEK,
        "sourdough-loaf rye-bread spelt-loaf farmhouse-loaf baguette pumpkin-seed-bread",
        "white wholegrain multigrain walnut olive sunflower potato buttermilk oat linseed malt",
        "loaf tin-loaf batard"),
    "rolls": _Category("shop", (30, 150), (40, 95), 40, (0.85, 0.8, 0.85, 0.9, 1.0, 1.6, 1.7),
        "kaiser-roll pretzel poppy-seed-roll sesame-roll pretzel-roll spelt-roll",
        "rye cheese pumpkin-seed wholegrain milk onion caraway seeded sunflower oat potato",
        "roll bun stick"),
    "pastry": _Category("shop", (8, 35), (140, 320), 20, (0.85, 0.85, 0.9, 0.9, 1.0, 1.35, 1.5),
        "butter-croissant almond-croissant pain-au-chocolat apple-turnover cinnamon-roll",
        "chocolate vanilla raspberry poppy-seed nut plum apricot cheese blueberry marzipan custard",
        "danish turnover pinwheel braid"),
    "cakes": _Category("shop", (4, 20), (250, 450), 12, (0.7, 0.7, 0.8, 0.85, 1.0, 1.5, 1.9),
        "apple-cake cheesecake christmas-stollen bee-sting-cake strawberry-tart marzipan-stollen",
        "cherry plum chocolate marble lemon carrot crumb poppy-seed rhubarb apricot hazelnut",
        "cake tart slice"),
    "snacks": _Category("shop", (5, 25), (350, 650), 15, (1.1, 1.1, 1.1, 1.1, 1.05, 0.8, 0.5),
        "ham-cheese-sandwich tomato-mozzarella-baguette egg-salad-sandwich gingerbread-hearts",
        "ham cheese salami tuna chicken veggie pesto bacon avocado smoked-salmon falafel turkey",
        "sandwich wrap quiche bagel"),
    "drinks": _Category("shop", (8, 40), (180, 450), 25, (1.0, 1.0, 1.0, 1.0, 1.05, 1.1, 0.9),
        "filter-coffee cappuccino latte-macchiato hot-chocolate iced-coffee lemonade mulled-punch",
        "small large",
        "espresso flat-white chai-latte black-tea iced-tea orange-juice apple-spritzer smoothie"
        " mocha americano cortado cola"),
    "coffee": _Category("web", (1, 6), (790, 2990), 3, _WEB_WEEK,
        "house-blend-beans espresso-blend-beans decaf-beans",
        "ethiopia colombia brazil guatemala kenya sumatra peru honduras",
        "beans-250g beans-1kg ground-250g"),
    "tea": _Category("web", (0.5, 3), (490, 1490), 2, _WEB_WEEK,
        "earl-grey-tea christmas-tea peppermint-tea",
        "green chamomile rooibos darjeeling assam chai fruit sencha jasmine ginger",
        "tea-100g tea-bags"),
    "gift-boxes": _Category("web", (0.1, 0.5), (2490, 6990), 0.5, _WEB_WEEK,
        "christmas-gift-box advent-calendar birthday-gift-box coffee-lovers-box tea-time-box",
        "easter thank-you baking breakfast chocolate corporate", "gift-box hamper"),
    "baking-supplies": _Category("web", (0.1, 1.5), (290, 3990), 1, _WEB_WEEK,
        "sourdough-starter rye-flour-1kg spelt-flour-1kg proofing-basket bread-spice-mix",
        "bread pastry cake pizza wholegrain", "flour-1kg baking-mix recipe-book"),
    "merchandise": _Category("web", (0.03, 0.3), (790, 2990), 0.5, _WEB_WEEK,
        "logo-mug tote-bag apron tea-towel enamel-mug",
        "logo vintage christmas summer", "cap t-shirt poster notebook postcard-set"),
}
# fmt: on


@dataclass(frozen=True)
class DemoData:
    """A demo sales panel (long, one row per series and day) with one attribute row per series."""

    sales: pd.DataFrame  # unique_id, ds, y, price, promo; sorted by (unique_id, ds)
    attributes: pd.DataFrame  # unique_id, item, category, store


def make_demo_sales(
    *,
    seed: int = 0,
    n_stores: int = 3,
    n_bakery_items: int = 160,
    n_web_items: int = 40,
    start: str = DEFAULT_START,
    n_days: int = 1096,
    country: str = "DE",
) -> DemoData:
    """Generate the daily sales of bakery items in `n_stores` shops plus web-shop items.

    Same arguments give identical frames; the default (~530k rows, 520 series) suits benchmarks.
    """
    if n_stores < 1 or n_bakery_items < 0 or n_web_items < 0 or n_bakery_items + n_web_items < 1:
        raise ValueError("need n_stores >= 1, item counts >= 0 and at least one item")
    if n_days < MIN_DAYS:
        raise ValueError(f"n_days must be at least {MIN_DAYS}, got {n_days}")
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=n_days, freq="D", unit="us")
    t = np.arange(n_days)
    dow = dates.day_of_week.to_numpy()
    years = n_days / YEAR
    catalog = _catalog(n_bakery_items, n_web_items)
    specs = [CATEGORIES[category] for _, category in catalog]
    n_items = len(catalog)
    shop_items = [i for i, spec in enumerate(specs) if spec.channel == "shop"]
    web_items = [i for i, spec in enumerate(specs) if spec.channel == "web"]
    stores = [f"shop-{k}" for k in range(1, n_stores + 1)] + [WEB]
    s_item = np.array([i for _ in range(n_stores) for i in shop_items] + web_items, dtype=int)
    s_store = np.repeat(np.arange(n_stores + 1), [len(shop_items)] * n_stores + [len(web_items)])
    n_series = s_item.size

    # Levels and trends: items share a level and growth rate, stores and series add noise.
    lo, hi = (np.log([spec.demand[j] for spec in specs]) for j in (0, 1))
    store_size = np.append(np.exp(rng.normal(0.0, 0.25, n_stores)), 1.0)
    level = np.exp(rng.uniform(lo, hi))[s_item] * store_size[s_store]
    level *= np.exp(rng.normal(0.0, 0.15, n_series))
    growth = rng.normal(0.0, 0.06, n_items)
    n_trending = min(max(1, round(SHARE_TRENDING * n_items)), n_items // 2)
    trending = rng.permutation(n_items)[: 2 * n_trending]
    growth[trending] = rng.uniform(0.2, 0.45, trending.size) * np.repeat([1, -1], n_trending)
    growth = growth[s_item] + rng.normal(0.0, 0.03, n_series)
    mu = level[:, None] * np.exp(np.outer(growth, (t - n_days / 2) / YEAR))

    # Week profile; shops closed on Sunday sell a little more on Saturday.
    sunday_closed = np.array([k > 0 for k in range(n_stores)] + [False])
    weekly = np.array([spec.weekly for spec in specs])[s_item]
    weekly = weekly * np.exp(rng.normal(0.0, 0.05, weekly.shape))
    weekly[:, 5] *= np.where(sunday_closed[s_store], SUNDAY_SATURDAY_SHIFT, 1.0)
    mu *= weekly[:, dow]
    mu *= _yearly(rng, dates, catalog)[s_item]

    # Prices change a few times and demand follows with an elasticity; promotions add an uplift.
    regular, promo_cents, promo = _prices_and_promos(rng, specs, n_days, years)
    cents = np.where(promo, promo_cents, regular)
    elasticity = rng.uniform(-2.0, -0.6, n_items)
    uplift = 1.0 + rng.uniform(0.2, 0.8, n_items)
    effect = (cents / regular[:, :1]) ** elasticity[:, None] * np.where(promo, uplift[:, None], 1)
    mu *= effect[s_item]

    # Shops close on Sundays (all but shop-1) and public holidays, and are busy the day before.
    is_holiday = _holidays(dates, country)
    open_ = np.ones((n_stores + 1, n_days), dtype=bool)
    open_[:n_stores] = ~is_holiday & ~(sunday_closed[:n_stores, None] & (dow == 6))
    store_factor = np.where(open_, 1.0, 0.0)
    store_factor[n_stores] = np.where(is_holiday, WEB_HOLIDAY_FACTOR, 1.0)
    first_holidays = np.flatnonzero(is_holiday & ~np.roll(is_holiday, 1))
    for k in range(n_stores):
        last_open = np.maximum.accumulate(np.where(open_[k], t, -1))
        eves = last_open[first_holidays[first_holidays > 0] - 1]
        store_factor[k, eves[eves >= 0]] *= HOLIDAY_EVE_UPLIFT
    mu *= store_factor[s_store]

    # Launches (with a ramp-up) and discontinuations, then till outages with absent rows.
    first, last = _lifecycle(rng, n_items, n_days)
    since = t[None, :] - first[:, None]
    ramp = np.where(first[:, None] > 0, 0.5 + 0.5 * (1 - np.exp(-np.maximum(since, 0) / 30)), 1)
    mu *= ramp[s_item]
    alive = (since >= 0) & (t[None, :] <= last[:, None])
    missing = np.zeros((n_stores + 1, n_days), dtype=bool)
    for k in range(n_stores + 1):
        n_outages = min(1 + rng.poisson(0.7 * years), (n_days - 60) // 2)  # keep 60 rows
        for day in rng.integers(0, n_days, n_outages):
            missing[k, day : day + rng.integers(1, 3)] = True
    exists = alive[s_item] & ~missing[s_store]

    shape = np.array([spec.shape for spec in specs])[s_item][:, None]
    y = rng.negative_binomial(shape, shape / (shape + mu)).astype(float)

    # A few catering orders (10 to 20 times the expected amount) and at least one sale per series.
    catering = np.isin([catalog[i][1] for i in s_item], CATERING_CATEGORIES)[:, None]
    candidates = np.flatnonzero(exists & catering & (mu > 0))
    n_spikes = min(candidates.size, max(1, round(CATERING_RATE * n_series * years)))
    spikes = rng.choice(candidates, size=n_spikes, replace=False)
    factor = rng.uniform(10.0, 20.0, n_spikes)
    y.flat[spikes] = np.round(np.maximum(mu.flat[spikes], 1.0) * factor)
    unsold = ~(exists & (y > 0)).any(axis=1)
    best_day = np.argmax(np.where(exists & (mu > 0), mu, -1.0), axis=1)
    y[unsold, best_day[unsold]] = 1.0

    ids = np.array([f"{catalog[i][0]}@{stores[k]}" for i, k in zip(s_item, s_store, strict=True)])
    order = np.argsort(ids, kind="stable")
    rows, days = np.nonzero(exists[order])
    series = order[rows]
    sales = pd.DataFrame(
        {
            ID: pd.array(ids[series], dtype="str"),
            TIME: dates[days],
            TARGET: y[series, days],
            PRICE: cents[s_item[series], days] / 100,
            PROMO: promo[s_item[series], days].astype("int64"),
        }
    )
    attributes = pd.DataFrame(
        [(ids[j], *catalog[s_item[j]], stores[s_store[j]]) for j in order],
        columns=[ID, "item", "category", "store"],
        dtype="str",
    )
    return DemoData(sales=sales, attributes=attributes)


def make_small_panel(
    *, seed: int = 0, n_series: int = 6, n_days: int = 120, freq: str = "D"
) -> DemoData:
    """A tiny demo panel (one shop and its web shop) for fast tests in other suites.

    `n_days` is the length of the daily history; other `freq`s sum it into complete periods.
    """
    if freq not in FREQUENCIES:
        raise ValueError(f"freq must be one of {sorted(FREQUENCIES)}, got {freq!r}")
    n_web = n_series // 3
    data = make_demo_sales(
        seed=seed, n_stores=1, n_bakery_items=n_series - n_web, n_web_items=n_web, n_days=n_days
    )
    if freq == "D":
        return data
    return _aggregate(data, freq, pd.date_range(DEFAULT_START, periods=n_days, freq="D", unit="us"))


def write_demo_files(data: DemoData, out_dir: Path) -> dict[str, Path]:
    """Write `sales.csv` and `attributes.csv` (UTF-8, comma separated) and return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"sales": out_dir / "sales.csv", "attributes": out_dir / "attributes.csv"}
    sales = data.sales.assign(**{TARGET: data.sales[TARGET].round().astype("int64")})
    sales.to_csv(paths["sales"], index=False, date_format="%Y-%m-%d", encoding="utf-8")
    data.attributes.to_csv(paths["attributes"], index=False, encoding="utf-8")
    return paths


def _catalog(n_bakery: int, n_web: int) -> list[tuple[str, str]]:
    """Unique readable (item, category) pairs, categories in turn so each one is represented."""
    catalog: list[tuple[str, str]] = []
    seen: set[str] = set()
    for channel, n in (("shop", n_bakery), ("web", n_web)):
        names = {c: _names(spec) for c, spec in CATEGORIES.items() if spec.channel == channel}
        cycle = list(names)
        for k in range(n):
            category = cycle[k % len(cycle)]
            name = next(name for name in names[category] if name not in seen)
            seen.add(name)
            catalog.append((name, category))
    return catalog


def _names(spec: _Category) -> list[str]:
    """The category's staples, then every flavour-form combination, then numbered repeats."""
    combos = [f"{a}-{b}" for b in spec.forms.split() for a in spec.flavours.split()]
    names = list(dict.fromkeys(spec.staples.split() + combos))
    return names + [f"{name}-{k}" for k in range(2, 100) for name in names]


def _yearly(
    rng: np.random.Generator, dates: pd.DatetimeIndex, catalog: list[tuple[str, str]]
) -> np.ndarray:
    """Items x days yearly factors: Christmas, summer, autumn or winter peaks, else a mild wave."""
    doy, month, day = (np.asarray(x) for x in (dates.day_of_year, dates.month, dates.day))
    n_items = len(catalog)
    phase = rng.uniform(0, 2 * np.pi, n_items)[:, None]
    wave = 1 + rng.uniform(0, 0.12, n_items)[:, None] * np.cos(2 * np.pi * doy / YEAR - phase)
    amplitude = rng.uniform(1.0, 2.5, n_items)
    off_season = rng.uniform(0.02, 0.1, n_items)
    factors = np.empty((n_items, doy.size))
    for i, (item, category) in enumerate(catalog):
        season = next((s for s, words in SEASON_WORDS.items() if any(w in item for w in words)), "")
        shop = CATEGORIES[category].channel == "shop"
        if season == "christmas":
            # Shops sell until Christmas Eve; parcels must leave the web shop by mid-December.
            peak = 24 if shop else 15
            to_peak = np.where(month == 12, peak - day, np.where(month == 11, 30 - day + peak, -99))
            ramp = np.where(to_peak >= 0, np.clip(1 - to_peak / 50, 0, 1) ** 2, 0.0)
            ramp += np.where((month == 12) & (day > peak), np.exp(-(day - peak) / 2), 0.0)
            factors[i] = off_season[i] + CHRISTMAS_PEAK * ramp
        elif season:
            distance = np.abs(doy - SEASON_PEAK_DAY[season])
            distance = np.minimum(distance, 365 - distance)
            factors[i] = 1 + amplitude[i] * np.exp(-0.5 * (distance / 35) ** 2)
        else:
            factors[i] = wave[i]
    return factors


def _prices_and_promos(
    rng: np.random.Generator, specs: list[_Category], n_days: int, years: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Items x days regular and promotional prices in cents, and the promotion flag."""
    n_items = len(specs)
    lo, hi = (np.array([spec.cents[j] for spec in specs]) for j in (0, 1))
    web = np.array([spec.channel == "web" for spec in specs])[:, None]
    # Mostly inflation-driven increases, now and then a price cut.
    n_changes = np.minimum(1 + rng.poisson(0.7 * years, n_items), 5)
    steps = np.where(rng.random((n_items, 5)) < 0.8, 1, -1) * rng.uniform(0.03, 0.12, (n_items, 5))
    steps[np.arange(5)[None, :] >= n_changes[:, None]] = 0.0
    change_days = rng.integers(1, n_days, (n_items, 5))
    log_path = np.zeros((n_items, n_days))
    np.add.at(log_path, (np.arange(n_items)[:, None], change_days), steps)
    raw = rng.uniform(lo, hi)[:, None] * np.exp(np.cumsum(log_path, axis=1))

    def round_cents(x: np.ndarray) -> np.ndarray:
        """Bakery prices end in 0 or 5 cents, web prices in .49 or .99."""
        return np.where(web, np.round(x / 50) * 50 - 1, np.round(x / 5) * 5).clip(min=5)

    regular = round_cents(raw)
    promo_cents = round_cents(regular * (1 - rng.uniform(0.1, 0.3, n_items))[:, None])
    # Campaigns of 3 to 14 days; some items are never promoted.
    n_campaigns = rng.poisson(rng.uniform(0.0, 4.0, n_items) * years)
    width = max(1, int(n_campaigns.max()))
    starts = rng.integers(0, n_days, (n_items, width))
    ends = np.minimum(starts + rng.integers(3, 15, (n_items, width)), n_days)
    used = (np.arange(width)[None, :] < n_campaigns[:, None]).astype(int)
    delta = np.zeros((n_items, n_days + 1), dtype=int)
    rows = np.arange(n_items)[:, None]
    np.add.at(delta, (rows, starts), used)
    np.add.at(delta, (rows, ends), -used)
    promo = np.cumsum(delta, axis=1)[:, :n_days] > 0
    return regular, promo_cents, promo


def _holidays(dates: pd.DatetimeIndex, country: str) -> np.ndarray:
    """Whether each day is a nationwide public holiday in `country` (offline, `holidays`)."""
    years = range(dates[0].year, dates[-1].year + 1)
    try:
        calendar = holidays.country_holidays(country, years=years)
    except NotImplementedError as error:
        raise ValueError(f"no holiday calendar for country {country!r}") from error
    days = np.array(sorted(calendar), dtype="datetime64[D]")
    return np.isin(dates.to_numpy().astype("datetime64[D]"), days)


def _lifecycle(rng: np.random.Generator, n_items: int, n_days: int) -> tuple[np.ndarray, ...]:
    """First and last day index of each item; a few launch or stop mid-history."""
    first = np.zeros(n_items, dtype=int)
    last = np.full(n_items, n_days - 1)
    if n_days < LIFECYCLE_MIN_DAYS:
        return first, last
    n_launched = max(1, round(SHARE_LAUNCHED * n_items))
    n_stopped = max(1, round(SHARE_DISCONTINUED * n_items))
    chosen = rng.permutation(n_items)[: n_launched + n_stopped]
    launched, stopped = chosen[:n_launched], chosen[n_launched:]
    first[launched] = rng.integers(30, n_days - LIFECYCLE_MARGIN + 1, launched.size)
    last[stopped] = rng.integers(LIFECYCLE_MARGIN, n_days - 30, stopped.size)
    return first, last


def _aggregate(data: DemoData, freq: str, window: pd.DatetimeIndex) -> DemoData:
    """Sum a daily demo panel into the periods of `freq` that the history covers completely."""
    sales = data.sales.assign(**{TIME: period_start(data.sales[TIME], freq)})
    sales = (
        sales.groupby([ID, TIME], sort=True)
        .agg(**{TARGET: (TARGET, "sum"), PRICE: (PRICE, "mean"), PROMO: (PROMO, "max")})
        .reset_index()
    )
    sales[PRICE] = sales[PRICE].round(2)
    counts = period_start(pd.Series(window), freq).value_counts()
    starts, offset = counts.index, pd.tseries.frequencies.to_offset(FREQUENCIES[freq])
    complete = starts[(starts + offset - starts).days == counts.to_numpy()]
    if complete.empty:
        raise ValueError(f"{window.size} days hold no complete period at freq {freq!r}")
    sales = sales[sales[TIME].isin(complete)].reset_index(drop=True)
    attributes = data.attributes[data.attributes[ID].isin(sales[ID])].reset_index(drop=True)
    return DemoData(sales=sales, attributes=attributes)
