"""Fixed vocabularies the record generators draw from.

Why a module of constants: realistic values (multilingual addresses, field-sales titles,
shop names) make the syncs meet the data they will meet in production — non-ASCII text,
nulls, repeated ids — while staying deterministic and cheap to draw from.
"""

from __future__ import annotations

from typing import NamedTuple

# --- Pexip Engage -------------------------------------------------------------------------

PEXIP_STATUSES: tuple[tuple[str, int], ...] = (
    ("ACCEPTED", 34),
    ("COMPLETED", 30),
    ("CANCELLED", 12),
    ("INCOMING_REQUEST", 8),
    ("NO_SHOW", 5),
    ("OUTGOING_INVITE", 6),
    ("ALTERNATIVE_DATE_REQUESTED", 5),
)
PEXIP_MEETING_TYPES: tuple[tuple[str, int], ...] = (
    ("OFFICE", 35),
    ("VIDEO", 35),
    ("PHONE", 20),
    ("ON_LOCATION", 10),
)
PEXIP_ANSWER_TYPES = (
    "APPOINTMENT_CANCELLATION",
    "APPOINTMENT_COMPLETION",
    "CALLBACK_REQUEST",
    "QUALIFICATION",
    "SUBJECT_QUESTIONNAIRE",
)
PEXIP_LANGUAGES = ("da", "de", "el", "en", "es", "fr", "ja", "nl", "no", "pl")

PEXIP_OFFICES = tuple(str(1100 + i) for i in range(40))
PEXIP_SUBJECTS = tuple(str(2300 + i) for i in range(30))
PEXIP_EMPLOYEES = tuple(str(5000 + i) for i in range(200))
PEXIP_MEETING_ROOMS = tuple(str(7700 + i) for i in range(25))
PEXIP_LEAD_SEGMENTS = tuple(str(410 + i) for i in range(8))
PEXIP_LISTINGS = tuple(str(88000 + i) for i in range(60))
PEXIP_FORMS = tuple(str(950 + i) for i in range(6))
PEXIP_CUSTOMER_ID_BASE = 30_000_000
PEXIP_TRAILING_BUFFERS = (0, 0, 0, 0, 5, 10, 15, 30)
PEXIP_DURATIONS_MIN = (15, 30, 30, 45, 60, 60, 60, 90, 120)


class Question(NamedTuple):
    """A questionnaire question: how its answers look depends on `kind`."""

    id: str
    answer_type: str
    kind: str  # "text", "choice", "multi" or "file"
    options: tuple[str, ...]
    values: tuple[str, ...]


PEXIP_QUESTIONS: tuple[Question, ...] = (
    Question(
        "q-101",
        "SUBJECT_QUESTIONNAIRE",
        "text",
        (),
        (
            "A colleague",
            "Via de website",
            "Par un ami",
            "Über eine Anzeige",
            "Instagram",
        ),
    ),
    Question("q-102", "SUBJECT_QUESTIONNAIRE", "choice", ("o-1", "o-2", "o-3", "o-4"), ()),
    Question("q-103", "SUBJECT_QUESTIONNAIRE", "multi", ("o-5", "o-6", "o-7", "o-8"), ()),
    Question("q-104", "SUBJECT_QUESTIONNAIRE", "file", (), ()),
    Question("q-105", "QUALIFICATION", "choice", ("o-9", "o-10", "o-11"), ()),
    Question(
        "q-106",
        "QUALIFICATION",
        "text",
        (),
        (
            "Budget approved",
            "Needs a second meeting",
            "Pas intéressé",
            "Heeft al een lening",
        ),
    ),
    Question(
        "q-107",
        "APPOINTMENT_COMPLETION",
        "text",
        (),
        (
            "Offer sent",
            "Contract signed",
            "Follow-up in two weeks",
            "Kunde meldet sich",
        ),
    ),
    Question("q-108", "APPOINTMENT_COMPLETION", "multi", ("o-12", "o-13", "o-14"), ()),
    Question("q-109", "APPOINTMENT_CANCELLATION", "choice", ("o-15", "o-16", "o-17"), ()),
    Question(
        "q-110",
        "APPOINTMENT_CANCELLATION",
        "text",
        (),
        (
            "Customer is ill",
            "Rendez-vous annulé par le client",
            "Dubbele boeking",
        ),
    ),
    Question(
        "q-111",
        "CALLBACK_REQUEST",
        "text",
        (),
        (
            "Please call after 5 pm",
            "Bitte morgens anrufen",
            "Rappeler lundi",
        ),
    ),
    Question("q-112", "CALLBACK_REQUEST", "file", (), ()),
)

PEXIP_INTERNAL_NOTES = (
    "Customer prefers Dutch",
    "Bring the mortgage simulation",
    "VIP customer",
    "Klant komt met partner",
    "Parking at the back entrance",
    "Second meeting",
    "Documents received by e-mail",
    "Rückruf vereinbart",
    "Dossier incomplet",
)
PEXIP_MESSAGES = (
    "See you soon!",
    "Tot binnenkort!",
    "À bientôt !",
    "Bis bald!",
    "Do zobaczenia!",
    "Please bring your ID card.",
    "Vergeet uw identiteitskaart niet.",
    "またお会いしましょう。",
    "Hasta pronto.",
    "Θα τα πούμε σύντομα!",
    "Vi ses snart!",
)


class City(NamedTuple):
    """A city with its state, coordinates and the prefix its postal codes start with."""

    name: str
    state: str
    latitude: float
    longitude: float
    postal: str


class Locale(NamedTuple):
    """Where offices and customers are: language of the address fields and its country."""

    country: str
    language: str
    cities: tuple[City, ...]
    streets: tuple[str, ...]
    street2: tuple[str, ...]


PEXIP_LOCALES: tuple[Locale, ...] = (
    Locale(
        "BE",
        "nl",
        (
            City("Gent", "Oost-Vlaanderen", 51.0543, 3.7174, "90"),
            City("Antwerpen", "Antwerpen", 51.2194, 4.4025, "20"),
            City("Leuven", "Vlaams-Brabant", 50.8798, 4.7005, "30"),
        ),
        ("Veldstraat", "Meir", "Bondgenotenlaan", "Kortrijksesteenweg"),
        ("Bus 2", "Bus 14"),
    ),
    Locale(
        "BE",
        "fr",
        (
            City("Liège", "Liège", 50.6326, 5.5797, "40"),
            City("Bruxelles", "Bruxelles-Capitale", 50.8503, 4.3517, "10"),
            City("Namur", "Namur", 50.4674, 4.8718, "50"),
        ),
        ("Rue de la Loi", "Boulevard d'Avroy", "Rue de Fer"),
        ("Boîte 3", "2e étage"),
    ),
    Locale(
        "DE",
        "de",
        (
            City("München", "Bayern", 48.1351, 11.5820, "80"),
            City("Köln", "Nordrhein-Westfalen", 50.9375, 6.9603, "50"),
            City("Düsseldorf", "Nordrhein-Westfalen", 51.2277, 6.7735, "40"),
        ),
        ("Hauptstraße", "Königsallee", "Maximilianstraße"),
        ("2. OG", "Hinterhaus"),
    ),
    Locale(
        "DK",
        "da",
        (
            City("København", "Hovedstaden", 55.6761, 12.5683, "1"),
            City("Århus", "Midtjylland", 56.1629, 10.2039, "8"),
        ),
        ("Østergade", "Nørrebrogade", "Søndergade"),
        ("2. sal", "st. tv."),
    ),
    Locale(
        "NO",
        "no",
        (
            City("Oslo", "Oslo", 59.9139, 10.7522, "0"),
            City("Bergen", "Vestland", 60.3913, 5.3221, "5"),
            City("Tromsø", "Troms", 69.6492, 18.9553, "9"),
        ),
        ("Karl Johans gate", "Bryggen", "Storgata"),
        ("Inngang B",),
    ),
    Locale(
        "PL",
        "pl",
        (
            City("Kraków", "Małopolskie", 50.0647, 19.9450, "30-"),
            City("Łódź", "Łódzkie", 51.7592, 19.4560, "90-"),
            City("Gdańsk", "Pomorskie", 54.3520, 18.6466, "80-"),
        ),
        ("ulica Floriańska", "ulica Piotrkowska", "ulica Długa"),
        ("lokal 4", "piętro 2"),
    ),
    Locale(
        "ES",
        "es",
        (
            City("Sevilla", "Andalucía", 37.3891, -5.9845, "41"),
            City("A Coruña", "Galicia", 43.3623, -8.4115, "15"),
            City("Málaga", "Andalucía", 36.7213, -4.4214, "29"),
        ),
        ("Calle de Alcalá", "Avenida de la Constitución", "Calle Larios"),
        ("2º izquierda",),
    ),
    Locale(
        "FR",
        "fr",
        (
            City("Lyon", "Auvergne-Rhône-Alpes", 45.7640, 4.8357, "69"),
            City("Lille", "Hauts-de-France", 50.6292, 3.0573, "59"),
        ),
        ("Rue de la République", "Rue Nationale", "Place Bellecour"),
        ("Bâtiment A",),
    ),
    Locale(
        "GR",
        "el",
        (
            City("Αθήνα", "Αττική", 37.9838, 23.7275, "10"),
            City("Θεσσαλονίκη", "Κεντρική Μακεδονία", 40.6401, 22.9444, "54"),
        ),
        ("Οδός Ερμού", "Λεωφόρος Συγγρού", "Οδός Τσιμισκή"),
        ("2ος όροφος",),
    ),
    Locale(
        "JP",
        "ja",
        (
            City("東京", "東京都", 35.6762, 139.6503, "100-"),
            City("大阪", "大阪府", 34.6937, 135.5023, "530-"),
        ),
        ("銀座通り", "御堂筋", "表参道"),
        ("3階",),
    ),
    Locale(
        "GB",
        "en",
        (
            City("London", "Greater London", 51.5072, -0.1276, "EC1A "),
            City("Manchester", "Greater Manchester", 53.4808, -2.2426, "M1 "),
        ),
        ("High Street", "Deansgate", "Baker Street"),
        ("Flat 2", "Unit 5"),
    ),
    Locale(
        "US",
        "en",
        (
            City("New York", "NY", 40.7128, -74.0060, "100"),
            City("Austin", "TX", 30.2672, -97.7431, "787"),
        ),
        ("Main Street", "Congress Avenue", "5th Avenue"),
        ("Suite 200", "Apt 4B"),
    ),
)

# --- Valomnia -----------------------------------------------------------------------------

VALOMNIA_TITLES = (
    "Price Negotiation",
    "Control merchandise",
    "Visite commerciale",
    "Merchandising check",
    "Relevé de prix",
    "Order taking",
    "Prise de commande",
    "Payment collection",
    "Recouvrement",
    "Stock audit",
    "Promotion setup",
    "Mise en place promotion",
    "New product presentation",
    "Livraison",
    "Shelf inspection",
    "Contract renewal",
)
VALOMNIA_CATEGORIES: tuple[tuple[int, str, str], ...] = (
    (1, "visit", "Visit"),
    (2, "delivery", "Delivery"),
    (3, "phone_call", "Phone call"),
    (4, "merchandising", "Merchandising"),
    (5, "other", "Autre"),
    (6, "collection", "Recouvrement"),
    (7, "training", "Training"),
)
VALOMNIA_NOTES = (
    "Client absent, repasser demain",
    "Bring the new catalogue",
    "Rupture de stock constatée",
    "Manager wants a discount",
    "Paiement par chèque",
    "Check the fridge display",
    "Commande urgente",
    "Relancer la facture n°2231",
)
VALOMNIA_EMPLOYEE_COUNT = 80
VALOMNIA_FIRST_NAMES = (
    "Amine",
    "Sami",
    "Yasmine",
    "Mehdi",
    "Nour",
    "Karim",
    "Ines",
    "Skander",
    "Rania",
    "Walid",
    "Sarra",
    "Hichem",
    "Emna",
    "Fares",
    "Leila",
    "Omar",
    "Chloé",
    "Julien",
    "Camille",
    "Hédi",
)
VALOMNIA_LAST_NAMES = (
    "Ben Salah",
    "Trabelsi",
    "Gharbi",
    "Jaziri",
    "Mejri",
    "Bouazizi",
    "Hammami",
    "Ayari",
    "Dupont",
    "Martin",
    "Khelifi",
    "Chaabane",
    "Ben Ali",
    "Riahi",
    "Zouari",
    "Lefèvre",
)
VALOMNIA_SHOP_PREFIXES = (
    "Magasin",
    "Superette",
    "Épicerie",
    "Pharmacie",
    "Kiosque",
    "Boulangerie",
    "Librairie",
    "Station",
    "Market",
)
VALOMNIA_SHOP_NAMES = (
    "BATAM",
    "El Amen",
    "Carthage",
    "La Marsa",
    "Ennasr",
    "Les Berges du Lac",
    "Sfax Centre",
    "Bizerte",
    "Sousse Nord",
    "Monastir",
    "Nabeul",
    "El Menzah",
    "Ariana",
    "Ezzahra",
    "Hammamet",
    "Gabès",
    "Kairouan",
    "Djerba",
    "Tozeur",
    "Le Kram",
)
