"""The synthetic catalogue: products with a life cycle, articles (colour variants) and their metadata.

An article's *popularity* in week w is appeal x life(w - launch) x season(w): it launches, peaks in
its first weeks, decays over a product-specific lifetime and dies; seasonal products swell in their
season. Shoppers pick within the part of the catalogue their taste points at in proportion to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from hmrec_cli.synth import vocabulary as voc

MEN_EXCLUDED = {
    "Bra",
    "Bikini top",
    "Dress",
    "Skirt",
    "Swimsuit",
    "Night gown",
    "Underwear corset",
    "Nipple covers",
    "Heeled sandals",
    "Pumps",
    "Wedge",
    "Ballerinas",
    "Earring",
    "Necklace",
    "Bracelet",
    "Hair/alice band",
    "Hair clip",
    "Hair string",
    "Leggings/Tights",
    "Underwear Tights",
    "Blouse",
    "Bodysuit",
    "Underdress",
    "Bra extender",
    "Underwear set",
    "Underwear body",
    "Earrings",
    "Alice band",
}
KIDS_ONLY = {
    "Kids Underwear top",
    "Garment Set",
    "Outdoor overall",
    "Dungarees",
    "Sleep Bag",
    "Sleeping sack",
    "Baby Bib",
    "Pre-walkers",
    "Soft Toys",
    "Toy",
}
NOT_KIDS = {
    "Blazer",
    "Tie",
    "Tailored Waistcoat",
    "Bra extender",
    "Underwear corset",
    "Nipple covers",
    "Heeled sandals",
    "Pumps",
    "Wedge",
    "Watch",
}
SUMMER = {"Swimwear", "Shorts"}
SUMMER_TYPES = {"Sandals", "Flip flop", "Straw hat", "Sunglasses", "Sarong", "Vest top"}
WINTER_TYPES = {
    "Coat",
    "Sweater",
    "Cardigan",
    "Boots",
    "Gloves",
    "Hat/beanie",
    "Scarf",
    "Beanie",
    "Outdoor overall",
    "Outdoor trousers",
    "Jacket",
}
LONG_LIVED = {"Jersey Basic", "Socks and Tights", "Under-, Nightwear"}


@dataclass(frozen=True)
class ProductTypes:
    """The product-type table (one row per type) with the masks that tie types to index groups."""

    names: list[str]
    groups: list[str]
    garment: list[str]
    tier: np.ndarray
    demand: np.ndarray
    allowed: np.ndarray  # (index groups, types) bool

    @classmethod
    def build(cls) -> ProductTypes:
        rows = [(t, g, gg, tier, w) for g, types in voc.PRODUCT_TYPES.items() for t, gg, tier, w in types]
        names = [r[0] for r in rows]
        allowed = np.ones((len(voc.INDEX_GROUPS), len(rows)), dtype=bool)
        for j, name in enumerate(names):
            if name in MEN_EXCLUDED:
                allowed[voc.INDEX_GROUPS.index("Menswear"), j] = False
            if name in KIDS_ONLY:
                allowed[:, j] = False
                allowed[voc.INDEX_GROUPS.index("Baby/Children"), j] = True
            if name in NOT_KIDS:
                allowed[voc.INDEX_GROUPS.index("Baby/Children"), j] = False
        return cls(
            names,
            [r[1] for r in rows],
            [r[2] for r in rows],
            np.array([r[3] for r in rows]),
            np.array([r[4] for r in rows]),
            allowed,
        )


@dataclass(frozen=True)
class Catalogue:
    """Every article with the parameters that drive its sales; `segment` = (index group, type)."""

    article_id: np.ndarray  # int64, sorted
    product: np.ndarray  # product index per article
    segment: np.ndarray  # segment index per article
    colour: np.ndarray  # perceived colour master per article
    list_price: np.ndarray  # float, already / 590
    appeal: np.ndarray
    launch: np.ndarray  # week index the product launches (may be before the data starts)
    lifetime: np.ndarray  # weeks
    season: np.ndarray  # 0 all year, 1 summer, 2 winter
    segment_group: np.ndarray  # index group per segment
    segment_type: np.ndarray  # product type per segment
    table: pl.DataFrame  # articles.csv as text columns

    @property
    def size(self) -> int:
        return self.article_id.size

    def popularity(self, week: int, season_phase: float) -> np.ndarray:
        """Relative sales weight of every article in `week` (0 for unlaunched and dead articles)."""
        age = week - self.launch
        life = np.where(age < 0, 0.0, np.where(age == 0, 0.6, np.exp(-np.maximum(age - 1, 0) / self.lifetime)))
        life = np.where(life < 0.03, 0.0, life)
        summer = 0.5 + 0.5 * np.cos(2 * np.pi * (season_phase - 0.5))  # 1 in midsummer, 0 in midwinter
        season = np.select(
            [self.season == 1, self.season == 2], [0.15 + 0.85 * summer, 0.15 + 0.85 * (1 - summer)], 1.0
        )
        return self.appeal * life * season


def build_catalogue(rng: np.random.Generator, n_articles: int, n_weeks: int) -> Catalogue:
    types = ProductTypes.build()
    variants = rng.geometric(1 / 2.25, size=n_articles)
    n_products = int(np.searchsorted(np.cumsum(variants), n_articles)) + 1
    variants = variants[:n_products]
    variants[-1] -= variants.sum() - n_articles
    ig = rng.choice(len(voc.INDEX_GROUPS), p=voc.CATALOGUE_SHARE, size=n_products)
    type_weight = (types.demand[None, :] ** 0.6) * types.allowed
    type_cdf = np.cumsum(type_weight, axis=1) / type_weight.sum(axis=1, keepdims=True)
    ptype = (type_cdf[ig] < rng.random(n_products)[:, None]).sum(axis=1)
    ptype = np.minimum(ptype, len(types.names) - 1)

    season = np.zeros(n_products, dtype=np.int8)
    for j, name in enumerate(types.names):
        if types.groups[j] in SUMMER or name in SUMMER_TYPES:
            season[ptype == j] = 1
        elif name in WINTER_TYPES:
            season[ptype == j] = 2
    other = season == 0
    season[other] = rng.choice(3, p=[0.6, 0.2, 0.2], size=int(other.sum()))

    long_lived = np.isin(np.array(types.garment)[ptype], list(LONG_LIVED))
    lifetime = (rng.gamma(2.0, 3.5, n_products) + 1.5) * np.where(long_lived, 4.0, 1.0)
    launch = rng.integers(-30, n_weeks, size=n_products)
    product_appeal = rng.lognormal(0.0, 0.85, n_products)
    premium = (rng.random(n_products) < 0.01) * rng.integers(2, 6, n_products)  # leather, wool coats, ...
    tier = np.clip(
        types.tier[ptype] + rng.integers(-1, 2, n_products) - (ig == 3) - (ig == 1) + premium,
        0,
        len(voc.PRICE_TIERS) - 1,
    )
    codes = np.sort(rng.choice(np.arange(108_775, 959_462), size=n_products, replace=False))

    product = np.repeat(np.arange(n_products), variants)
    variant = np.arange(n_articles) - np.repeat(np.cumsum(variants) - variants, variants) + 1
    article_id = codes[product].astype(np.int64) * 1000 + variant
    master_share = np.array([s for _, s in voc.COLOUR_MASTERS])
    group_master = np.array([m for _, _, m in voc.COLOUR_GROUPS])
    group_weight = master_share[group_master] / np.bincount(group_master, minlength=master_share.size)[group_master]
    colour_group = rng.choice(len(voc.COLOUR_GROUPS), p=group_weight / group_weight.sum(), size=n_articles)
    colour = group_master[colour_group]
    appeal = (
        product_appeal[product]
        * rng.lognormal(0.0, 0.5, n_articles)
        * (master_share[colour] / master_share.mean()) ** 0.3
    )

    pairs, product_segment = np.unique(np.stack([ig, ptype], axis=1), axis=0, return_inverse=True)
    segment = product_segment.ravel()[product]

    table = _articles_table(
        rng, types, article_id, codes[product], ig[product], ptype[product], colour_group, tier[product]
    )
    return Catalogue(
        article_id=article_id,
        product=product,
        segment=segment,
        colour=colour,
        list_price=np.array(voc.PRICE_TIERS)[tier[product]] / 590,
        appeal=appeal,
        launch=launch[product],
        lifetime=lifetime[product],
        season=season[product],
        segment_group=pairs[:, 0],
        segment_type=pairs[:, 1],
        table=table,
    )


def _articles_table(
    rng: np.random.Generator,
    types: ProductTypes,
    article_id: np.ndarray,
    product_code: np.ndarray,
    ig: np.ndarray,
    ptype: np.ndarray,
    colour_group: np.ndarray,
    tier: np.ndarray,
) -> pl.DataFrame:
    """articles.csv rows, in the competition's text formats (zero-padded ids, two-digit colour codes)."""
    n = article_id.size
    index_code = _index_codes(ig, product_code)
    type_names = np.array(types.names)
    group_names = np.array(types.groups)
    garment = np.array(types.garment)
    garment_no = 1001 + np.array([voc.GARMENT_GROUPS.index(g) for g in types.garment])
    colour_names = np.array([c for c, _, _ in voc.COLOUR_GROUPS])
    colour_codes = np.array([c for _, c, _ in voc.COLOUR_GROUPS])
    masters = np.array([m for _, _, m in voc.COLOUR_GROUPS])
    master_names = np.array([m for m, _ in voc.COLOUR_MASTERS])
    value = (colour_codes % 7 + 1) % len(voc.PERCEIVED_VALUES)
    appearance = rng.choice(len(voc.GRAPHICAL_APPEARANCES), p=_appearance_weights(), size=n)
    index_names = np.array([voc.INDEXES[c][0] for c in index_code])
    group_of = np.array([voc.INDEXES[c][1] for c in index_code])
    group_no = np.array([voc.INDEXES[c][2] for c in index_code])
    dept_key = np.char.add(np.char.add(index_code.astype(str), "|"), garment[ptype])
    dept_names, dept_idx = np.unique(dept_key, return_inverse=True)
    sect_key = np.char.add(np.char.add(group_of, " "), group_names[ptype])
    sect_names, sect_idx = np.unique(sect_key, return_inverse=True)
    word = np.array(voc.NAME_WORDS)[product_code % len(voc.NAME_WORDS)]
    fabric = np.array(voc.FABRICS)[product_code % len(voc.FABRICS)]
    return pl.DataFrame(
        {
            "article_id": np.char.zfill(article_id.astype(str), 10),
            "product_code": np.char.zfill(product_code.astype(str), 7),
            "prod_name": np.char.add(np.char.add(word, " "), type_names[ptype]),
            "product_type_no": 49 + ptype * 5,
            "product_type_name": type_names[ptype],
            "product_group_name": group_names[ptype],
            "graphical_appearance_no": 1010001 + appearance,
            "graphical_appearance_name": np.array(voc.GRAPHICAL_APPEARANCES)[appearance],
            "colour_group_code": np.where(
                colour_codes[colour_group] < 0, "-1", np.char.zfill(colour_codes[colour_group].astype(str), 2)
            ),
            "colour_group_name": colour_names[colour_group],
            "perceived_colour_value_id": value[colour_group] + 1,
            "perceived_colour_value_name": np.array(voc.PERCEIVED_VALUES)[value[colour_group]],
            "perceived_colour_master_id": masters[colour_group] + 1,
            "perceived_colour_master_name": master_names[masters[colour_group]],
            "department_no": 1201 + dept_idx * 17,
            "department_name": np.array([k.split("|")[1] + " " + voc.INDEXES[k[0]][0].split()[0] for k in dept_names])[
                dept_idx
            ],
            "index_code": index_code,
            "index_name": index_names,
            "index_group_no": group_no,
            "index_group_name": group_of,
            "section_no": 2 + sect_idx,
            "section_name": sect_names[sect_idx],
            "garment_group_no": garment_no[ptype],
            "garment_group_name": garment[ptype],
            "detail_desc": np.char.add(
                np.char.add(np.char.add(type_names[ptype], " in "), fabric),
                np.where(tier > 4, ", lined, with a concealed zip.", ", with a relaxed fit."),
            ),
        }
    )


def _index_codes(ig: np.ndarray, product_code: np.ndarray) -> np.ndarray:
    """Index code per article: one of its index group's codes, fixed by the product code."""
    out = np.empty(ig.size, dtype="<U1")
    for g, name in enumerate(voc.INDEX_GROUPS):
        options = np.array(voc.INDEX_CODES[name])
        mine = ig == g
        out[mine] = options[product_code[mine] % options.size]
    return out


def _appearance_weights() -> np.ndarray:
    w = np.full(len(voc.GRAPHICAL_APPEARANCES), 0.01)
    w[0], w[1], w[2], w[3], w[4] = 0.47, 0.14, 0.07, 0.06, 0.05
    return w / w.sum()
