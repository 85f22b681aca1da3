"""Deterministic, seeded, streaming demo data in the feed's input shapes (CONTRACT section 3).

A tea-and-coffee shop: a product-group tree, ~90 products, four custom fields, and
customers with their orders. Only the standard library is used, and nothing reads the
clock or the global random state:

* every customer draws from its own ``random.Random`` seeded by ``(seed, index)``, so
  customer ``c000123`` is the same whatever ``customers`` is, ranges can be generated
  independently (``iter_customers(config, start=..., stop=...)``), and memory stays
  bounded for any size;
* the catalogue (prices, product popularity) draws from ``Random((seed, "catalogue"))``;
* ``config.today`` is the last calendar day of history. Every timestamp lies in
  ``[midnight of today - years_of_history, midnight of today)`` UTC, so nothing is in the
  future whenever during ``today`` the data is loaded.

Shapes: catalogue items and customers/orders carry their ``id`` (``code`` for custom
fields) next to the body fields, ready for the ``_bulk`` endpoints; for the single-item
``PUT`` endpoints the id goes into the URL. Optional customer fields are always present
(``None`` when unknown), except ``custom``, where an unknown value is simply absent.
Money is a float with at most two decimals (computed in kopecks, so never 0.30000000000000004).
"""
from __future__ import annotations

import bisect
import datetime
import itertools
import math
import random
from dataclasses import dataclass
from typing import Any, Generic, Iterator, Sequence, TypeVar

T = TypeVar("T")

# Orders-count model: a share of sign-ups never buy; a long tail of loyal customers
# (10-30 orders, mean 20) carries a large share of the orders, as in real shops.
_ZERO_ORDER_SHARE = 0.15
_LOYAL_MIN, _LOYAL_MAX = 10, 30
_LOYAL_MEAN = (_LOYAL_MIN + _LOYAL_MAX) / 2
_MAX_LOYAL_SHARE = 0.05

# Email numbers: a bijection of the customer number onto [0, 10**6) below 10**6, the
# number itself above. Names never end in a digit, so the trailing digits of an email's
# local part identify the customer: emails are unique by construction, without memory.
_EMAIL_MODULUS = 1_000_000
_EMAIL_MULTIPLIER = 736_357  # coprime with 10**6 (odd, not a multiple of 5)
_EMAIL_OFFSET = 271_828


@dataclass(frozen=True)
class DemoConfig:
    """What to generate. ``today`` is required: the generator never reads the clock."""

    customers: int = 20_000
    seed: int = 42
    today: datetime.date | None = None
    orders_per_customer: float = 3.0  # mean; the distribution is skewed (see _OrderCountModel)
    years_of_history: int = 3

    def __post_init__(self) -> None:
        if self.today is None:
            raise ValueError("DemoConfig.today is required (the generator never reads the clock)")
        if isinstance(self.today, datetime.datetime):
            # datetime is a date subclass; keep only the calendar day.
            object.__setattr__(self, "today", self.today.date())
        elif not isinstance(self.today, datetime.date):
            raise TypeError("DemoConfig.today must be a datetime.date")
        if self.customers < 0:
            raise ValueError("DemoConfig.customers must be >= 0")
        if not self.orders_per_customer >= 0:  # also refuses NaN
            raise ValueError("DemoConfig.orders_per_customer must be >= 0")
        if self.years_of_history < 1:
            raise ValueError("DemoConfig.years_of_history must be >= 1")


# --------------------------------------------------------------------------- tables


class _Weighted(Generic[T]):
    """Values with weights; one draw bisects the cumulative weights (cheaper than choices())."""

    __slots__ = ("values", "cum", "total", "hi")

    def __init__(self, pairs: Sequence[tuple[T, float]]) -> None:
        self.values = tuple(value for value, _ in pairs)
        self.cum = tuple(itertools.accumulate(weight for _, weight in pairs))
        self.total = self.cum[-1]
        self.hi = len(self.values) - 1  # as in Random.choices: never past the last value

    def pick(self, rng: random.Random) -> T:
        return self.values[bisect.bisect_right(self.cum, rng.random() * self.total, 0, self.hi)]


def _weighted(mapping: dict[Any, float]) -> _Weighted:
    return _Weighted(list(mapping.items()))


# (id, name, parent_id) — parents listed before their children, so loading in this
# order never references a missing parent.
_GROUPS: tuple[tuple[str, str, str | None], ...] = (
    ("tea", "Tea", None),
    ("chinese-tea", "Chinese tea", "tea"),
    ("pu-erh", "Pu-erh", "chinese-tea"),
    ("oolong", "Oolong", "chinese-tea"),
    ("white-tea", "White tea", "chinese-tea"),
    ("green-tea", "Green tea", "tea"),
    ("black-tea", "Black tea", "tea"),
    ("herbal-tea", "Herbal tea", "tea"),
    ("coffee", "Coffee", None),
    ("coffee-beans", "Beans", "coffee"),
    ("ground-coffee", "Ground", "coffee"),
    ("drip-bags", "Drip bags", "coffee"),
    ("tableware", "Tableware", None),
    ("teapots", "Teapots", "tableware"),
    ("cups", "Cups", "tableware"),
    ("gaiwans", "Gaiwans", "tableware"),
    ("accessories", "Accessories", "tableware"),
    ("sweets", "Sweets", None),
    ("chocolate", "Chocolate", "sweets"),
    ("honey", "Honey", "sweets"),
    ("dried-fruit", "Dried fruit and nuts", "sweets"),
    ("gifts", "Gifts", None),
    ("gift-sets", "Gift sets", "gifts"),
    ("gift-cards", "Gift cards", "gifts"),
)

# (name, base price in roubles, groups). The first group is the product's own leaf group;
# gift sets also sit in the group of what they contain.
_PRODUCTS: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("Shu Pu-erh Menghai 2015, 357 g cake", 2490, ("pu-erh",)),
    ("Sheng Pu-erh Bulang 2018, 100 g", 1890, ("pu-erh",)),
    ("Pu-erh mini tuocha, 50 pcs", 990, ("pu-erh",)),
    ("Palace Pu-erh, loose, 100 g", 1290, ("pu-erh",)),
    ("Sheng Pu-erh Yiwu 2020, 200 g", 3490, ("pu-erh",)),
    ("Tie Guan Yin, 100 g", 890, ("oolong",)),
    ("Da Hong Pao, 100 g", 1490, ("oolong",)),
    ("Milk Oolong, 100 g", 790, ("oolong",)),
    ("Dong Ding Oolong, 100 g", 1190, ("oolong",)),
    ("Feng Huang Dan Cong, 50 g", 1390, ("oolong",)),
    ("Bai Mu Dan, 100 g", 990, ("white-tea",)),
    ("Silver Needle, 50 g", 1790, ("white-tea",)),
    ("Shou Mei cake, 350 g", 2190, ("white-tea",)),
    ("Long Jing (Dragon Well), 100 g", 1290, ("green-tea",)),
    ("Sencha Premium, 100 g", 690, ("green-tea",)),
    ("Bi Luo Chun, 50 g", 890, ("green-tea",)),
    ("Jasmine Pearls, 100 g", 1090, ("green-tea",)),
    ("Gunpowder, 200 g", 490, ("green-tea",)),
    ("Matcha Ceremonial, 30 g", 1590, ("green-tea",)),
    ("Assam Harmutty, 100 g", 590, ("black-tea",)),
    ("Darjeeling First Flush, 100 g", 1390, ("black-tea",)),
    ("Ceylon OP1, 200 g", 690, ("black-tea",)),
    ("Dian Hong Golden Tips, 100 g", 1190, ("black-tea",)),
    ("Earl Grey, 100 g", 490, ("black-tea",)),
    ("Krasnodar black tea, 100 g", 350, ("black-tea",)),
    ("Ivan-chai, 100 g", 390, ("herbal-tea",)),
    ("Chamomile, 50 g", 290, ("herbal-tea",)),
    ("Rooibos, 100 g", 450, ("herbal-tea",)),
    ("Altai herbal blend, 100 g", 420, ("herbal-tea",)),
    ("Peppermint, 50 g", 290, ("herbal-tea",)),
    ("Ethiopia Yirgacheffe, beans, 250 g", 890, ("coffee-beans",)),
    ("Colombia Supremo, beans, 1 kg", 2490, ("coffee-beans",)),
    ("Brazil Santos, beans, 1 kg", 1990, ("coffee-beans",)),
    ("Kenya AA, beans, 250 g", 990, ("coffee-beans",)),
    ("Espresso Blend, beans, 1 kg", 2290, ("coffee-beans",)),
    ("Guatemala Antigua, beans, 250 g", 850, ("coffee-beans",)),
    ("Espresso Blend, ground, 250 g", 690, ("ground-coffee",)),
    ("Brazil Santos, ground, 250 g", 590, ("ground-coffee",)),
    ("Decaf Colombia, ground, 250 g", 790, ("ground-coffee",)),
    ("Turkish coffee, extra fine, 200 g", 490, ("ground-coffee",)),
    ("Drip bags Ethiopia, 10 pcs", 590, ("drip-bags",)),
    ("Drip bags Colombia, 10 pcs", 550, ("drip-bags",)),
    ("Drip bags sampler, 20 pcs", 1090, ("drip-bags",)),
    ("Yixing clay teapot, 200 ml", 4990, ("teapots",)),
    ("Glass teapot with infuser, 600 ml", 1290, ("teapots",)),
    ("Cast iron tetsubin, 800 ml", 5490, ("teapots",)),
    ("Porcelain teapot, 500 ml", 1890, ("teapots",)),
    ("Kyusu side-handle teapot, 300 ml", 3290, ("teapots",)),
    ("Celadon tea cup, 60 ml", 390, ("cups",)),
    ("Double-wall glass cup, 250 ml", 590, ("cups",)),
    ("Porcelain mug, 350 ml", 490, ("cups",)),
    ("Espresso cup with saucer", 450, ("cups",)),
    ("Cappuccino cup with saucer", 590, ("cups",)),
    ("Porcelain gaiwan, 150 ml", 890, ("gaiwans",)),
    ("Glass gaiwan, 150 ml", 790, ("gaiwans",)),
    ("Hand-painted gaiwan, 120 ml", 2490, ("gaiwans",)),
    ("Bamboo tea tray", 2990, ("accessories",)),
    ("Tea strainer, stainless steel", 290, ("accessories",)),
    ("Chahai pitcher, 250 ml", 690, ("accessories",)),
    ("Electric kettle with temperature control", 4990, ("accessories",)),
    ("Hand coffee grinder", 3490, ("accessories",)),
    ("French press, 600 ml", 1490, ("accessories",)),
    ("V60 dripper", 990, ("accessories",)),
    ("Paper filters, 100 pcs", 390, ("accessories",)),
    ("Dark chocolate 72%, 100 g", 290, ("chocolate",)),
    ("Milk chocolate with hazelnuts, 100 g", 260, ("chocolate",)),
    ("Matcha white chocolate, 80 g", 320, ("chocolate",)),
    ("Chocolate truffles, 200 g", 890, ("chocolate",)),
    ("Buckwheat honey, 500 g", 590, ("honey",)),
    ("Linden honey, 500 g", 650, ("honey",)),
    ("Altai cream honey, 300 g", 490, ("honey",)),
    ("Honey with nuts, 250 g", 550, ("honey",)),
    ("Dried mango, 200 g", 390, ("dried-fruit",)),
    ("Mixed nuts, 300 g", 690, ("dried-fruit",)),
    ("Candied ginger, 150 g", 320, ("dried-fruit",)),
    ("Medjool dates, 500 g", 790, ("dried-fruit",)),
    ("Pu-erh tasting set", 1990, ("gift-sets", "pu-erh")),
    ("Oolong discovery set", 2490, ("gift-sets", "oolong")),
    ("Teapot and two cups set", 3990, ("gift-sets", "teapots")),
    ("Coffee lover's box", 2990, ("gift-sets", "coffee-beans")),
    ("Honey and tea gift box", 1890, ("gift-sets", "honey")),
    ("Chocolate and coffee box", 1590, ("gift-sets", "chocolate")),
    ("New Year tea collection", 3490, ("gift-sets",)),
    ("Gift card 1000", 1000, ("gift-cards",)),
    ("Gift card 3000", 3000, ("gift-cards",)),
    ("Gift card 5000", 5000, ("gift-cards",)),
)

_FIXED_PRICE_GROUPS = frozenset({"gift-cards"})  # a gift card's price is its face value

_CUSTOM_FIELDS: tuple[dict[str, str], ...] = (
    {"code": "married", "label": "Married", "type": "boolean"},
    {"code": "occupation", "label": "Occupation", "type": "string"},
    {"code": "loyalty_level", "label": "Loyalty level", "type": "integer"},
    {"code": "anniversary", "label": "Wedding anniversary", "type": "date"},
)

# (city, country ISO 3166-1 alpha-2): weights are percentages, so Moscow is ~30%.
_CITIES = _weighted({
    ("Moscow", "RU"): 30, ("Saint Petersburg", "RU"): 13, ("Novosibirsk", "RU"): 4,
    ("Yekaterinburg", "RU"): 4, ("Kazan", "RU"): 4, ("Nizhny Novgorod", "RU"): 3,
    ("Krasnodar", "RU"): 3, ("Rostov-on-Don", "RU"): 2.5, ("Samara", "RU"): 2,
    ("Chelyabinsk", "RU"): 2, ("Ufa", "RU"): 2, ("Voronezh", "RU"): 2, ("Perm", "RU"): 2,
    ("Vladivostok", "RU"): 1.5, ("Kaliningrad", "RU"): 1.5, ("Sochi", "RU"): 1.5,
    ("Tver", "RU"): 1, ("Tula", "RU"): 1, ("Minsk", "BY"): 2, ("Almaty", "KZ"): 1.5,
    ("Astana", "KZ"): 0.5, ("Riga", "LV"): 0.5, ("Tbilisi", "GE"): 0.5, ("Yerevan", "AM"): 0.5,
    ("Tashkent", "UZ"): 0.5, ("Berlin", "DE"): 0.7, ("London", "GB"): 0.3, (None, None): 8,
})
_RUSSIAN_SPEAKING = frozenset({"RU", "BY", "KZ", None})

# The city's own shop takes a share of its customers; everyone else buys online.
_LOCAL_STORE = {
    "Moscow": ("moscow-main", 0.45),
    "Saint Petersburg": ("spb-nevsky", 0.45),
    "Kazan": ("kazan-bauman", 0.35),
    "Yekaterinburg": ("ekb-center", 0.35),
}
_STORES = ("online", "moscow-main", "spb-nevsky", "kazan-bauman", "ekb-center")

# (country -> phone prefix, digits after it)
_PHONES = {
    "RU": ("+79", 9), "BY": ("+37529", 7), "KZ": ("+770", 8), "LV": ("+3712", 7),
    "GE": ("+9955", 8), "AM": ("+3749", 7), "UZ": ("+9989", 8), "DE": ("+4915", 9),
    "GB": ("+447", 9), None: ("+79", 9),
}

_SOURCES = _weighted({
    "Yandex.Direct": 25, "Google Ads": 10, "Instagram": 12, "Organic": 25,
    "Referral": 8, "Email": 5, None: 15,
})
_MANAGERS = ("Anna Smirnova", "Dmitry Orlov", "Elena Kuznetsova", "Sergey Volkov", "Maria Belova")
_PERSON_TAGS = _weighted({
    "newsletter": 20, "gift-buyer": 12, "tea-club": 10, "coffee-lover": 8, "returning": 8,
    "birthday-promo": 6, "complaint": 4, "wholesale": 2,
})
_TAG_COUNTS = _weighted({0: 55, 1: 28, 2: 12, 3: 5})
_OCCUPATIONS = _weighted({
    "engineer": 12, "manager": 12, "teacher": 8, "developer": 9, "doctor": 6, "designer": 5,
    "accountant": 6, "student": 10, "entrepreneur": 7, "lawyer": 4, "marketer": 5,
    "retired": 8, "artist": 2,
})
_FAVOURITE_ROOT = _weighted({"tea": 55, "coffee": 25, "tableware": 8, "sweets": 8, "gifts": 4})

# Free mail dominates; a small share of people order with a work address.
_RU_DOMAINS = _weighted({
    "yandex.ru": 27, "mail.ru": 24, "gmail.com": 25, "bk.ru": 4, "inbox.ru": 3, "list.ru": 3,
    "rambler.ru": 3, "icloud.com": 4, "outlook.com": 2, None: 5,
})
_INTL_DOMAINS = _weighted({
    "gmail.com": 45, "outlook.com": 18, "icloud.com": 12, "yahoo.com": 10, "hotmail.com": 5,
    "gmx.de": 5, None: 5,
})  # None = a work address at a company domain

_STATUS_FRESH = _weighted({"new": 60, "paid": 25, "delivered": 8, "cancelled": 7})
_STATUS_RECENT = _weighted({"new": 12, "paid": 33, "delivered": 45, "cancelled": 10})
_STATUS_OLD = _weighted({"new": 1, "paid": 4, "delivered": 85, "cancelled": 10})
_ITEM_COUNTS = _weighted({1: 50, 2: 30, 3: 15, 4: 5})
_RETAIL_QUANTITY = _weighted({1: 75, 2: 17, 3: 5, 4: 2, 6: 1})
_WHOLESALE_QUANTITY = _weighted({5: 20, 10: 35, 12: 10, 20: 20, 24: 5, 50: 10})

_TRANSLIT = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z",
    "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh",
    "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya",
}


def _latin(name: str) -> str:
    """Lower-case ASCII form of a name for e-mail addresses."""
    return "".join(_TRANSLIT.get(ch, ch) for ch in name.lower()).replace(" ", "").replace("'", "")


def _feminine(surname: str) -> str:
    """Russian surnames agree in gender: Иванов -> Иванова, Островский -> Островская."""
    if surname.endswith(("ский", "цкий")):
        return surname[:-2] + "ая"
    if surname.endswith(("ов", "ев", "ёв", "ин", "ын")):
        return surname + "а"
    return surname  # Шевченко, Ким, Цой do not change


def _names(display: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """Pairs of (display form, e-mail form), transliterated once at import."""
    return tuple((name, _latin(name)) for name in display)


_RU_MALE = _names((
    "Александр", "Дмитрий", "Максим", "Сергей", "Андрей", "Алексей", "Артём", "Илья", "Кирилл",
    "Михаил", "Никита", "Иван", "Евгений", "Павел", "Роман", "Владимир", "Олег", "Николай",
    "Игорь", "Антон", "Тимур", "Денис", "Григорий", "Фёдор",
))
_RU_FEMALE = _names((
    "Анна", "Мария", "Елена", "Ольга", "Наталья", "Екатерина", "Татьяна", "Ирина", "Светлана",
    "Юлия", "Анастасия", "Дарья", "Полина", "Ксения", "Виктория", "Алина", "Марина", "Вера",
    "Софья", "Людмила", "Валерия", "Алёна", "Диана",
))
_RU_SURNAMES = (
    "Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов", "Михайлов",
    "Новиков", "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов", "Егоров",
    "Павлов", "Козлов", "Степанов", "Николаев", "Орлов", "Андреев", "Макаров", "Никитин",
    "Захаров", "Зайцев", "Соловьёв", "Борисов", "Яковлев", "Григорьев", "Романов", "Воробьёв",
    "Сергеев", "Кузьмин", "Фролов", "Александров", "Королёв", "Гусев", "Киселёв", "Ильин",
    "Максимов", "Поляков", "Сорокин", "Виноградов", "Ковалёв", "Белов", "Медведев", "Антонов",
    "Тарасов", "Жуков", "Баранов", "Комаров", "Давыдов", "Беляев", "Богданов", "Осипов",
    "Сидоров", "Титов", "Миронов", "Крылов", "Карпов", "Власов", "Мельников", "Денисов",
    "Островский", "Высоцкий", "Шевченко", "Бондаренко", "Ким", "Цой", "Руденко",
)
_RU_SURNAMES_MALE = _names(_RU_SURNAMES)
_RU_SURNAMES_FEMALE = _names(tuple(_feminine(s) for s in _RU_SURNAMES))
_INTL_MALE = _names((
    "John", "Michael", "David", "James", "Daniel", "Thomas", "Lukas", "Marco", "Alex",
    "Peter", "Jonas", "Omar", "Leon", "Samuel",
))
_INTL_FEMALE = _names((
    "Emma", "Olivia", "Sophie", "Laura", "Anna", "Maria", "Julia", "Sarah", "Lena", "Chloe",
    "Mia", "Hannah", "Nina", "Eva",
))
_INTL_SURNAMES = _names((
    "Smith", "Johnson", "Brown", "Miller", "Schmidt", "Fischer", "Weber", "Rossi", "Garcia",
    "Martin", "Dubois", "Novak", "Kowalski", "Nielsen", "Berg", "Cohen", "Lee", "Wilson",
    "Taylor", "Becker", "Meyer", "Jansen", "Horvat", "Lindqvist",
))

# Company names: legal form + word + optional suffix; (display, domain part).
_COMPANY_WORDS = (
    ("Ромашка", "romashka"), ("Чайный дом", "chaydom"), ("Северный ветер", "sevveter"),
    ("Кофейня на углу", "coffeecorner"), ("Гастроном", "gastronom"), ("Лесная поляна", "polyana"),
    ("Офис-Сервис", "office-service"), ("Бизнес Ланч", "bizlunch"), ("Самовар", "samovar"),
    ("Хлебъ", "hleb"), ("Отель Волга", "hotel-volga"), ("Восток", "vostok"), ("Уют", "uyut"),
    ("Вкусный день", "vkusden"), ("Байкал", "baikal"), ("Зелёный лист", "greenleaf"),
    ("Терем", "terem"), ("Пряник", "pryanik"), ("Кедр", "kedr"), ("Маяк", "mayak"),
    ("Арбат", "arbat"), ("Полярная звезда", "polar-star"), ("Сибирь", "sibir"),
    ("Акварель", "akvarel"), ("Гранат", "granat"),
)
_COMPANY_SUFFIXES = (("", ""), (" Трейд", "-trade"), (" Групп", "-group"), (" Плюс", "-plus"),
                     (" Опт", "-opt"))
_COMPANY_FORMS = _weighted({"ООО": 75, "АО": 10, "ИП": 15})
_COMPANY_MAILBOXES = ("info", "zakaz", "office", "opt", "buh", "snab")


# --------------------------------------------------------------------------- catalogue


def _price_cents(rng: random.Random, base: int, groups: tuple[str, ...]) -> int:
    """Seeded shelf price near the base: rounded to 10 roubles, sometimes ending .90/.99/.50."""
    if groups[0] in _FIXED_PRICE_GROUPS:
        return base * 100
    roubles = max(10, round(base * rng.uniform(0.9, 1.12) / 10) * 10)
    return roubles * 100 - rng.choice((0, 0, 0, 0, 10, 1, 50))


def _product_rows(seed: int) -> list[tuple[str, str, int, tuple[str, ...]]]:
    """(id, name, price in kopecks, groups) for every product, prices drawn from the seed."""
    rng = random.Random(f"{seed}/catalogue")
    return [(f"p{n}", name, _price_cents(rng, base, groups), groups)
            for n, (name, base, groups) in enumerate(_PRODUCTS, start=1)]


def catalogue_data(config: DemoConfig) -> dict[str, list[dict[str, Any]]]:
    """The small, fully materialised catalogue: product groups, products and custom fields.

    Groups are ordered parents first. Products are ``{"id", "name", "price", "groups"}``;
    product names and groups are fixed, prices depend on ``config.seed``.
    """
    return {
        "product_groups": [{"id": gid, "name": name, "parent_id": parent}
                           for gid, name, parent in _GROUPS],
        "products": [{"id": pid, "name": name, "price": cents / 100, "groups": list(groups)}
                     for pid, name, cents, groups in _product_rows(config.seed)],
        "custom_fields": [dict(field) for field in _CUSTOM_FIELDS],
    }


# --------------------------------------------------------------------------- context


@dataclass(frozen=True)
class _OrderCountModel:
    """Zero orders / loyal tail (10-30) / regular buyers whose mean makes up the rest."""

    zero: float
    loyal: float
    regular_mean: float

    @classmethod
    def for_mean(cls, mean: float) -> "_OrderCountModel":
        if mean == 0:
            return cls(zero=1.0, loyal=0.0, regular_mean=0.0)
        # At the default mean of 3 the loyal 5% place a third of all orders.
        loyal = min(_MAX_LOYAL_SHARE, mean / (3 * _LOYAL_MEAN))
        regular_mean = (mean - loyal * _LOYAL_MEAN) / (1 - _ZERO_ORDER_SHARE - loyal)
        return cls(zero=_ZERO_ORDER_SHARE, loyal=loyal, regular_mean=regular_mean)

    def draw(self, rng: random.Random) -> int:
        u = rng.random()
        if u < self.zero:
            return 0
        if u < self.zero + self.loyal:
            return rng.randint(_LOYAL_MIN, _LOYAL_MAX)
        if self.regular_mean < 1:
            return 1 if rng.random() < self.regular_mean else 0
        return 1 + _geometric(rng, self.regular_mean - 1)


def _geometric(rng: random.Random, mean: float) -> int:
    """A count >= 0 with the given mean, geometrically distributed (most buy once more or not)."""
    if mean <= 0:
        return 0
    q = mean / (1 + mean)
    return int(math.log(1.0 - rng.random()) / math.log(q))


@dataclass(frozen=True)
class _Context:
    """Everything shared by all customers of one run, computed once."""

    today: datetime.date
    end: int  # seconds from the window's first midnight (UTC) to midnight of today, exclusive
    counts: _OrderCountModel
    all_products: _Weighted  # of (product id, price in kopecks)
    by_root: dict[str, _Weighted]
    day_prefixes: tuple[str, ...]  # "YYYY-MM-DDT" of every day in the window

    def iso(self, offset: int) -> str:
        """ISO datetime with +00:00 of a window offset; string-built, as datetime.isoformat()
        would be, at ~60% of the cost (it runs ~4 times per customer)."""
        day, seconds = divmod(offset, 86_400)
        hour, seconds = divmod(seconds, 3_600)
        minute, second = divmod(seconds, 60)
        return f"{self.day_prefixes[day]}{hour:02d}:{minute:02d}:{second:02d}+00:00"


def _years_before(day: datetime.date, years: int) -> datetime.date:
    """The same calendar day ``years`` earlier; 29 February falls back to the 28th."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def _root_of(group: str) -> str:
    parents = {gid: parent for gid, _, parent in _GROUPS}
    parent = parents[group]
    while parent is not None:
        group, parent = parent, parents[parent]
    return group


def _product_tables(seed: int) -> tuple[_Weighted, dict[str, _Weighted]]:
    """Products weighted by a seeded popularity (a few bestsellers), overall and per root group."""
    rng = random.Random(f"{seed}/popularity")
    rows = _product_rows(seed)
    ranks = list(range(len(rows)))
    rng.shuffle(ranks)
    weighted = [((pid, cents), 1 / (1 + rank) ** 0.7)
                for (pid, _, cents, _groups), rank in zip(rows, ranks)]
    by_root: dict[str, list] = {}
    for (_pid, _, _cents, groups), pair in zip(rows, weighted):
        by_root.setdefault(_root_of(groups[0]), []).append(pair)
    return _Weighted(weighted), {root: _Weighted(pairs) for root, pairs in by_root.items()}


def _context(config: DemoConfig) -> _Context:
    assert config.today is not None  # DemoConfig refuses None
    first_day = _years_before(config.today, config.years_of_history)
    all_products, by_root = _product_tables(config.seed)
    days = (config.today - first_day).days
    prefixes = tuple((first_day + datetime.timedelta(days=d)).isoformat() + "T"
                     for d in range(days))
    return _Context(today=config.today, end=days * 86_400,
                    counts=_OrderCountModel.for_mean(config.orders_per_customer),
                    all_products=all_products, by_root=by_root, day_prefixes=prefixes)


# --------------------------------------------------------------------------- customers


@dataclass(frozen=True)
class _Profile:
    """The hidden traits of one customer that its orders depend on."""

    created: int  # seconds from the window start
    orders: int
    store: str
    favourite_root: str
    wholesale: bool


def _email_number(number: int) -> int:
    """A random-looking number unique to the customer number (see _EMAIL_MODULUS)."""
    if number >= _EMAIL_MODULUS:
        return number
    return (number * _EMAIL_MULTIPLIER + _EMAIL_OFFSET) % _EMAIL_MODULUS


def _company_name(rng: random.Random) -> tuple[str, str]:
    """(display name, domain) of a company, e.g. ('ООО «Самовар Опт»', 'samovar-opt.ru')."""
    word, slug = rng.choice(_COMPANY_WORDS)
    suffix, slug_suffix = rng.choice(_COMPANY_SUFFIXES)
    form = _COMPANY_FORMS.pick(rng)
    if form == "ИП":  # a sole trader trades under their own name
        surname, latin = rng.choice(_RU_SURNAMES_MALE)
        initials = rng.choice(_RU_MALE)[0][0] + ". " + rng.choice(_RU_MALE)[0][0] + "."
        return f"ИП {surname} {initials}", f"{latin}-shop.ru"
    return f"{form} «{word}{suffix}»", f"{slug}{slug_suffix}.ru"


def _person_name(rng: random.Random, country: str | None) -> tuple[str, str, str, str, str]:
    """(first, last, first latin, last latin, sex) from Russian or international pools."""
    russian = country in _RUSSIAN_SPEAKING and rng.random() < 0.93
    sex = "female" if rng.random() < 0.58 else "male"  # shop audiences skew female
    if russian:
        first = rng.choice(_RU_FEMALE if sex == "female" else _RU_MALE)
        index = rng.randrange(len(_RU_SURNAMES))
        last = (_RU_SURNAMES_FEMALE if sex == "female" else _RU_SURNAMES_MALE)[index]
    else:
        first = rng.choice(_INTL_FEMALE if sex == "female" else _INTL_MALE)
        last = rng.choice(_INTL_SURNAMES)
    return first[0], last[0], first[1], last[1], sex


def _person_email(rng: random.Random, number: int, first: str, last: str,
                  country: str | None) -> str:
    """An address built from the name; unique because it ends in the customer's email number."""
    n = _email_number(number)
    pattern = rng.randrange(6)
    local = (f"{first}.{last}", f"{first[0]}.{last}", f"{last}.{first}", f"{first}{last}",
             f"{first}_{last}", f"{last}")[pattern]
    domains = _RU_DOMAINS if country in _RUSSIAN_SPEAKING else _INTL_DOMAINS
    domain = domains.pick(rng) or _company_name(rng)[1]
    return f"{local}{n}@{domain}"


def _phone(rng: random.Random, country: str | None) -> str:
    prefix, digits = _PHONES.get(country, _PHONES[None])
    return f"{prefix}{rng.randrange(10 ** digits):0{digits}d}"


def _birthday(rng: random.Random, today: datetime.date) -> datetime.date:
    """Ages 16-80, most around 30-40. Days are drawn uniformly within the span, so
    29 February turns up about as often as in life (once in ~1461 days)."""
    youngest = _years_before(today, 16)
    oldest = _years_before(today, 81) + datetime.timedelta(days=1)
    lo, hi = oldest.toordinal(), youngest.toordinal()
    mode = _years_before(today, 33).toordinal()
    return datetime.date.fromordinal(min(hi, int(rng.triangular(lo, hi + 1, mode))))


def _age(birthday: datetime.date, today: datetime.date) -> int:
    return today.year - birthday.year - ((today.month, today.day) < (birthday.month, birthday.day))


def _anniversary(rng: random.Random, birthday: datetime.date | None,
                 today: datetime.date) -> datetime.date | None:
    """A wedding day after the 18th birthday, within the last 45 years, before today."""
    lo = _years_before(today, 45)
    if birthday is not None:
        lo = max(lo, _years_before(birthday, -18))
    hi = today - datetime.timedelta(days=1)
    if lo > hi:
        return None
    return datetime.date.fromordinal(rng.randint(lo.toordinal(), hi.toordinal()))


def _custom(rng: random.Random, company: bool, birthday: datetime.date | None,
            orders: int, today: datetime.date) -> dict[str, Any]:
    """Custom-field values; a value nobody entered is absent, not null."""
    custom: dict[str, Any] = {}
    adult = birthday is None or _age(birthday, today) >= 18
    if not company and rng.random() < 0.7:
        married = adult and rng.random() < 0.55
        custom["married"] = married
        anniversary = _anniversary(rng, birthday, today) if married and rng.random() < 0.6 else None
        if anniversary is not None:
            custom["anniversary"] = anniversary.isoformat()
    if not company and rng.random() < 0.6:
        custom["occupation"] = "student" if not adult else _OCCUPATIONS.pick(rng)
    if rng.random() < (0.6 if company else 0.8):
        # The loyalty programme promotes a level every four orders.
        custom["loyalty_level"] = min(5, orders // 4 + (rng.random() < 0.3))
    return custom


def _created_offset(rng: random.Random, end: int, orders: int) -> int:
    """Sign-up time: recent sign-ups are more common (a growing shop), but customers with
    many orders have been around longer. Leaves two hours before the window closes."""
    exponent = 0.8 + 0.12 * orders
    return int(rng.random() ** exponent * max(0, end - 7_200))


def _store(rng: random.Random, city: str | None) -> str:
    local = _LOCAL_STORE.get(city)  # type: ignore[arg-type]
    if local is not None and rng.random() < local[1]:
        return local[0]
    return "online"


def _tags(rng: random.Random, company: bool) -> list[str]:
    if company:
        return ["wholesale"] if rng.random() < 0.7 else []
    wanted = _TAG_COUNTS.pick(rng)
    tags: list[str] = []
    for _ in range(wanted * 2):  # a few redraws for duplicates, then settle for fewer
        tag = _PERSON_TAGS.pick(rng)
        if tag not in tags:
            tags.append(tag)
        if len(tags) == wanted:
            break
    return tags


def _identity(rng: random.Random, number: int, company: bool,
              country: str | None, today: datetime.date) -> dict[str, Any]:
    """Name, e-mail, sex and birthday of a person or a company."""
    if company:
        name, domain = _company_name(rng)
        email = f"{rng.choice(_COMPANY_MAILBOXES)}{_email_number(number)}@{domain}"
        return {"first_name": None, "last_name": name, "email": email, "sex": None,
                "birthday": None}
    first, last, first_latin, last_latin, sex = _person_name(rng, country)
    birthday = _birthday(rng, today) if rng.random() < 0.85 else None
    return {
        "first_name": first, "last_name": last,
        "email": _person_email(rng, number, first_latin, last_latin, country),
        "sex": sex if rng.random() < 0.96 else None,
        "birthday": birthday,
    }


def _last_opened(rng: random.Random, ctx: _Context, created: int,
                 email: str | None, subscribed: bool) -> str | None:
    """Subscribers mostly open something, recently; a few ex-subscribers opened long ago."""
    if email is None or rng.random() >= (0.7 if subscribed else 0.1):
        return None
    recent = 1.0 - rng.random() ** 3
    return ctx.iso(created + int(recent * (ctx.end - 1 - created)))


def _customer(rng: random.Random, number: int, ctx: _Context) -> tuple[dict[str, Any], _Profile]:
    """One customer in the contract's shape, plus the traits its orders need."""
    company = rng.random() < 0.10
    city, country = _CITIES.pick(rng)
    if city is None and rng.random() < 0.7:
        country = "RU"  # the city was left blank, the shop still knows the country
    orders = ctx.counts.draw(rng)
    created = _created_offset(rng, ctx.end, orders)
    store = _store(rng, city)
    ident = _identity(rng, number, company, country, ctx.today)
    if store != "online" and rng.random() < 0.08:
        ident["email"] = None  # walk-in buyers sometimes leave only a phone
    tags = _tags(rng, company)
    vip = rng.random() < (0.35 if orders >= _LOYAL_MIN else 0.033)
    phone = _phone(rng, country) if rng.random() < 0.95 else None
    email_subscribed = ident["email"] is not None and rng.random() < 0.62
    birthday = ident["birthday"]
    customer = {
        "id": f"c{number:06d}",
        "type": "company" if company else "person",
        "first_name": ident["first_name"],
        "last_name": ident["last_name"],
        "email": ident["email"],
        "phone": phone,
        "sex": ident["sex"],
        "birthday": birthday.isoformat() if birthday else None,
        "city": city,
        "country": country,
        "store": store,
        "source": _SOURCES.pick(rng),
        "manager": rng.choice(_MANAGERS) if company or rng.random() < 0.25 else None,
        "tags": tags,
        "vip": vip,
        "created_at": ctx.iso(created),
        "email_subscribed": email_subscribed,
        "sms_subscribed": phone is not None and rng.random() < 0.35,
        "last_email_opened_at": _last_opened(rng, ctx, created, ident["email"], email_subscribed),
        "custom": _custom(rng, company, birthday, orders, ctx.today),
    }
    profile = _Profile(created=created, orders=orders, store=store,
                       favourite_root=_FAVOURITE_ROOT.pick(rng),
                       wholesale=company or "wholesale" in tags)
    return customer, profile


# --------------------------------------------------------------------------- orders


def _order_times(rng: random.Random, profile: _Profile, end: int) -> list[int]:
    """Sorted order times after sign-up; half the customers sign up at their first checkout."""
    earliest, latest = profile.created + 60, end - 1
    times = sorted(rng.randint(earliest, latest) for _ in range(profile.orders))
    if times and rng.random() < 0.5:
        times[0] = min(times[0], profile.created + rng.randint(60, 3_600))
    return times


def _status(rng: random.Random, age_seconds: int) -> str:
    """Fresh orders are still new; old ones have been delivered (or cancelled)."""
    if age_seconds < 3 * 86_400:
        return _STATUS_FRESH.pick(rng)
    if age_seconds < 21 * 86_400:
        return _STATUS_RECENT.pick(rng)
    return _STATUS_OLD.pick(rng)


def _pipeline(rng: random.Random, wholesale: bool) -> str | None:
    u = rng.random()
    if wholesale:
        return "wholesale" if u < 0.85 else ("retail" if u < 0.95 else None)
    return "retail" if u < 0.75 else None


def _items(rng: random.Random, ctx: _Context, profile: _Profile) -> tuple[list[dict], int]:
    """1-4 distinct products, mostly from the customer's favourite root group; total in kopecks."""
    favourite = ctx.by_root[profile.favourite_root]
    quantities = _WHOLESALE_QUANTITY if profile.wholesale else _RETAIL_QUANTITY
    items: list[dict] = []
    seen: set[str] = set()
    total = 0
    for _ in range(_ITEM_COUNTS.pick(rng)):
        pid, cents = (favourite if rng.random() < 0.65 else ctx.all_products).pick(rng)
        if pid in seen:
            continue  # a repeated draw makes a smaller basket, never a duplicate line
        seen.add(pid)
        quantity = quantities.pick(rng)
        items.append({"product_id": pid, "quantity": quantity, "price": cents / 100})
        total += quantity * cents
    return items, total


def _orders(rng: random.Random, ctx: _Context, customer_id: str,
            profile: _Profile) -> list[dict[str, Any]]:
    """The customer's orders, oldest first, ids o<customer digits>-<n>."""
    digits = customer_id[1:]
    orders = []
    for n, at in enumerate(_order_times(rng, profile, ctx.end), start=1):
        items, total = _items(rng, ctx, profile)
        orders.append({
            "id": f"o{digits}-{n}",
            "customer_id": customer_id,
            "created_at": ctx.iso(at),
            "status": _status(rng, ctx.end - at),
            "pipeline": _pipeline(rng, profile.wholesale),
            "store": profile.store if rng.random() < 0.85 else rng.choice(_STORES),
            "total": total / 100,
            "items": items,
        })
    return orders


# --------------------------------------------------------------------------- public API


CustomerWithOrders = tuple[dict[str, Any], list[dict[str, Any]]]


def iter_customers(config: DemoConfig, *, start: int = 0,
                   stop: int | None = None) -> Iterator[CustomerWithOrders]:
    """Yield ``(customer, its orders)`` for customer indexes ``start`` to ``stop`` (default all).

    Lazy and bounded in memory for any ``config.customers``. Customer ``i`` (id
    ``c{i+1:06d}``) depends only on ``config`` minus ``customers``, so disjoint ranges can
    be generated in parallel and concatenate to the full stream.
    """
    ctx = _context(config)
    stop = config.customers if stop is None else min(stop, config.customers)
    for index in range(max(0, start), stop):
        # One generator per customer: stable per index and independent of the others.
        rng = random.Random(f"{config.seed}/{index}")
        customer, profile = _customer(rng, index + 1, ctx)
        yield customer, _orders(rng, ctx, customer["id"], profile)


def generate(config: DemoConfig) -> dict[str, list[dict[str, Any]]]:
    """Everything at once, for small sizes: the catalogue plus ``customers`` and ``orders``."""
    data = catalogue_data(config)
    customers: list[dict[str, Any]] = []
    orders: list[dict[str, Any]] = []
    for customer, its_orders in iter_customers(config):
        customers.append(customer)
        orders.extend(its_orders)
    data["customers"] = customers
    data["orders"] = orders
    return data
