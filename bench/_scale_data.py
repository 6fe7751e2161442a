"""Synthetic memories and questions for bench/scale.py, made by a seeded generator.

An agent's store of what its users told it over two years: people (3,000 full names from 160
first names and 160 surnames, also called by their first name alone), places, workplaces,
events, preferences, pets, devices, trips, prices, times and dates, in 40 sentence templates
with optional lead-ins and trailing remarks. Consecutive memories of one user on one day form a
session (60% carry its `session_id`, as conversation turns would). No benchmark data set is
read: everything is made here.

Every memory remembers the slots it was made from, so the questions asked about it are known to
have it as their answer (the bench reports how often it comes back in the top 10, a sanity
check that the index behaves at scale, not a quality benchmark). Three kinds of question:

- `entity`: the names the memory is about ("Marta Okafor Lisbon").
- `keyword`: its distinctive words ("flight QX 482 Lisbon").
- `paraphrase`: a natural question in other words ("When does Marta's plane to Lisbon leave?").
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

FIRST = (
    "Aaliyah Aarav Abebe Adaeze Adrian Agnieszka Ahmed Aiko Alejandro Alessia Amara Amir Ana "
    "Anders Anika Arjun Astrid Ayumi Bao Beatriz Benedikt Bianca Bilal Bruno Camila Carlos "
    "Chen Chiara Chidi Clara Colm Dalia Damian Daniela Dario Dmitri Ebru Eduardo Efua Elif Elena "
    "Emeka Emil Esra Farah Fatima Felipe Femi Fiona Florian Freya Gabriel Giulia Greta Hamid "
    "Hana Hannah Haruto Hector Helga Hiroshi Hugo Ibrahim Ida Ifeoma Ilya Imani Ingrid Irene "
    "Isabel Ivan Jakub Jamal Javier Jin Joana Jonas Jorge Julia Kaito Kamala Karim Katarzyna "
    "Kemal Kenji Kofi Lars Layla Leila Leon Lina Lorenzo Luca Lucia Luis Magnus Mai Malik "
    "Marco Mariam Marta Mateo Maya Mehmet Mei Mikael Mina Miriam Nadia Naveen Nia Nikolai Nina "
    "Noah Noor Olga Omar Oskar Paolo Pedro Pia Priya Rafael Rahul Ravi Rosa Ruth Sakura Samir "
    "Sara Sebastian Selin Sergei Shira Sofia Soren Sunita Tariq Tatiana Tomas Uma Valentina "
    "Vera Viktor Wei Yara Yasmin Yusuf Zainab Zara Zoe Zofia Tobias Renata Oliwia"
).split()
LAST = (
    "Abara Adeyemi Alvarez Andersen Aoki Bakker Banerjee Barros Becker Bergstrom Bianchi Bondar "
    "Castillo Chandra Chowdhury Costa Dahl Delgado Demir Dubois Eriksen Esposito Farouk Ferreira "
    "Fischer Fonseca Gallo Garcia Gomez Gupta Haddad Hansen Hartmann Herrera Horvat Hosseini "
    "Ibarra Ivanova Jansen Jimenez Kaur Kato Kim Kowalski Kraus Kuznetsov Larsen Lehmann Lindqvist "
    "Lopez Lund Mahmoud Marino Martins Mendes Meyer Mishra Molina Moreau Morozov Mwangi Nakamura "
    "Navarro Nguyen Nielsen Novak Nowak Nunez Okafor Okonkwo Oliveira Olsen Ortiz Osei Ozturk "
    "Park Patel Pavlova Pereira Petrov Popescu Quinn Rahman Ramos Rao Reyes Ricci Rios Romano "
    "Rossi Ruiz Saito Salazar Santos Sato Schmidt Schneider Silva Singh Sokolov Souza Suzuki "
    "Svensson Takahashi Tanaka Torres Tran Vargas Varga Vasquez Vogel Volkov Wagner Walsh Weber "
    "Wojcik Yamamoto Yilmaz Zhang Zielinski Achebe Bauer Brennan Calder Doyle Everett Fairley "
    "Gallagher Hale Ingram Keane Lowry Marsh Nolan Prescott Quade Rowan Sutter Thorne Underwood "
    "Vance Whitlock Yates Ashdown Blackwood Carrow Drummond Ellery Fenwick Greaves Holloway Ives "
    "Jessop Kemble Lambert Merriman Northcott Oakley Pembroke Radley Stanhope Tolliver Upton"
).split()
CITIES = (
    "Lisbon Porto Madrid Seville Valencia Barcelona Marseille Lyon Bordeaux Paris Brussels "
    "Antwerp Amsterdam Rotterdam Utrecht Hamburg Berlin Leipzig Dresden Munich Vienna Graz Zurich "
    "Geneva Basel Milan Turin Bologna Florence Naples Palermo Ljubljana Zagreb Split Belgrade "
    "Budapest Prague Brno Krakow Warsaw Gdansk Vilnius Riga Tallinn Helsinki Stockholm Gothenburg "
    "Oslo Bergen Copenhagen Aarhus Dublin Cork Edinburgh Glasgow Manchester Leeds Bristol London "
    "Reykjavik Athens Thessaloniki Istanbul Izmir Ankara Tbilisi Yerevan Cairo Casablanca Tunis "
    "Nairobi Kampala Kigali Lagos Accra Dakar Addis-Ababa Johannesburg Cape-Town Durban Mumbai "
    "Pune Bangalore Chennai Hyderabad Delhi Kolkata Colombo Kathmandu Dhaka Bangkok Hanoi "
    "Saigon Manila Jakarta Singapore Kuala-Lumpur Seoul Busan Tokyo Osaka Kyoto Sapporo Taipei "
    "Shanghai Beijing Shenzhen Melbourne Sydney Brisbane Perth Auckland Wellington Vancouver "
    "Toronto Montreal Calgary Boston Chicago Denver Seattle Portland Austin Atlanta Miami "
    "Mexico-City Guadalajara Bogota Medellin Lima Quito Santiago Buenos-Aires Montevideo Recife"
).split()
VENUE_ADJ = (
    "Blue Golden Silver Green Red Old Little Crooked Sleepy Hidden Lucky Copper Iron Velvet "
    "Rusty Quiet Wild Salty Sunny Misty Northern Painted Secret Twin Happy Brave Jolly Marble"
).split()
VENUE_NOUN = (
    "Heron Lantern Anchor Fox Oak Pelican Otter Kettle Compass Sparrow Harbour Mill Bell Barrel "
    "Willow Falcon Lighthouse Orchard Badger Teapot Pine Garden Crown Swan Lemon Fig Walrus"
).split()
VENUE_KIND = (
    "Cafe Bistro Bakery Tavern Diner Noodle-Bar Wine-Bar Taqueria Brewery Gym Bookshop "
    "Climbing-Gym Cinema Theatre Gallery"
).split()
COMPANY_A = (
    "Vel Quin Ar Zen Nov Lum Ort Cal Tri Ver Sol Pax Kor Myr Dax Ely Fen Hal Iri Jun"
).split()
COMPANY_B = "ora tek ix ara ion yx ant ica io on".split()
COMPANY_C = (
    "Systems Labs Analytics Logistics Health Robotics Energy Media Foods Capital Bio Studios "
    "Networks Materials Insurance"
).split()
FOODS = (
    "sushi ramen pho dumplings tacos burritos paella risotto lasagne pizza falafel hummus "
    "shakshuka biryani dosa curry pad-thai bibimbap kimchi tempura ceviche empanadas pierogi "
    "goulash moussaka souvlaki croissants pancakes waffles oatmeal granola cheesecake tiramisu "
    "baklava churros gelato mochi brownies carrot-cake lentil-soup miso-soup borscht couscous "
    "tagine jollof injera arepas pupusas poutine bagels pretzels scones"
).split()
DRINKS = (
    "espresso flat-white cold-brew matcha chai oolong green-tea mint-tea hot-chocolate "
    "kombucha lemonade cider red-wine white-wine craft-beer sparkling-water oat-milk-latte"
).split()
HOBBIES = (
    "bouldering pottery chess sailing birdwatching woodworking knitting photography "
    "salsa-dancing rowing archery beekeeping calligraphy gardening fencing surfing "
    "trail-running origami astronomy baking cycling kayaking juggling skateboarding "
    "tennis badminton swimming yoga pilates rock-climbing scuba-diving ice-skating "
    "skiing snowboarding painting sketching piano violin cello guitar drumming singing"
).split()
INSTRUMENTS = "piano violin cello guitar ukulele saxophone trumpet flute clarinet drums".split()
SPORTS = "football basketball volleyball handball rugby cricket hockey baseball tennis".split()
PETS = "dog cat rabbit parrot hamster tortoise ferret guinea-pig goldfish gecko".split()
PET_NAMES = (
    "Biscuit Pepper Mochi Luna Milo Nala Olive Pickles Waffles Ziggy Bamboo Clover Dumpling "
    "Fig Gizmo Hazel Juniper Kiwi Mango Nugget Oreo Pumpkin Quincy Rocket Sprout Tofu Whiskers "
    "Noodle Pesto Pixel Maple Socks Truffle Bean Cosmo Dash Ember Fudge Ginger Honey"
).split()
DEVICES = (
    "router laptop printer dishwasher thermostat e-bike espresso-machine washing-machine "
    "smartwatch tablet projector robot-vacuum air-purifier 3D-printer car-charger "
    "baby-monitor doorbell-camera soundbar NAS-drive heat-pump"
).split()
AIRLINES = (
    "QX TAP KLM Iberia Lufthansa Finnair Turkish Emirates Qatar Ryanair easyJet Norwegian "
    "Aegean Vueling SAS"
).split()
ALLERGENS = (
    "peanuts shellfish penicillin cat-hair pollen gluten lactose sesame kiwi latex bee-stings"
).split()
RELATIONS = (
    "sister brother cousin aunt uncle neighbour colleague manager flatmate landlord "
    "best-friend dentist physiotherapist piano-teacher mentor godmother"
).split()
EVENTS = (
    "wedding birthday-party housewarming book-club-meeting retirement-dinner baby-shower "
    "graduation hackathon conference marathon charity-gala quiz-night jazz-concert "
    "film-festival school-reunion product-launch board-meeting farewell-lunch"
).split()
PROJECT_A = "Silver Amber Crimson Quiet Northern Paper Glass Iron Velvet Hollow Bright".split()
PROJECT_B = "Falcon Harbor Meadow Comet Lantern Tide Orchid Summit Beacon Atlas Ember".split()
TITLE_A = ["The Last", "The Silent", "The Hidden", "The Long", "The Broken", "The Distant"]
TITLE_B = (
    "Garden River Winter Orchard Lighthouse Kingdom Voyage Archive Harvest Mirror Station "
    "Letters Mountain Island Season"
).split()
COLORS = "teal mustard burgundy olive navy coral lavender charcoal emerald ochre".split()
WEEKDAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
MONTHS = (
    "January February March April May June July August September October November December"
).split()
SUBJECTS = (
    "statistics Spanish Japanese pottery accounting machine-learning photography "
    "first-aid negotiation Portuguese welding sign-language bookkeeping"
).split()
DOCTORS = "Dr. Alvarez|Dr. Mensah|Dr. Lindgren|Dr. Ito|Dr. Bose|Dr. Kovacs|Dr. Farah".split("|")

LEADS = [
    "",
    "",
    "",
    "",
    "Yesterday, ",
    "Last {weekday}, ",
    "Earlier this week, ",
    "By the way, ",
    "Note to self: ",
    "Just remembered that ",
    "FYI, ",
    "According to {other}, ",
]
TAILS = [
    "",
    "",
    "",
    "",
    " It was raining the whole time.",
    " {other} was there too.",
    " I should follow up next week.",
    " That cost about {price} euros.",
    " Worth remembering for later.",
    " {other} found it hilarious.",
    " Traffic was terrible on the way back.",
    " Not sure it will happen again.",
    " We took a taxi home afterwards.",
    " Apparently this happens every year.",
]


# Sentence openings that are not names: lower-cased after a lead-in ("Yesterday, had ...").
LOWER_FIRST = {
    "Had",
    "The",
    "To",
    "My",
    "Booked",
    "Dentist",
    "Expense",
    "Parking",
    "Paid",
    "Watched",
    "For",
}


def _plain(word: str) -> str:
    return word.replace("-", " ")


@dataclasses.dataclass
class World:
    """The pools the sentences draw from (people, places, companies, ...), fixed by the seed."""

    people: list[tuple[str, str]]
    venues: list[str]
    companies: list[str]
    projects: list[str]
    titles: list[str]

    @classmethod
    def make(cls, rng: random.Random, n_people: int = 3000) -> World:
        people: set[tuple[str, str]] = set()
        while len(people) < n_people:
            people.add((rng.choice(FIRST), rng.choice(LAST)))
        venues = sorted(
            {
                f"the {a} {n} {_plain(k)}"
                for a in VENUE_ADJ
                for n in VENUE_NOUN
                for k in VENUE_KIND
                if rng.random() < 0.08
            }
        )
        companies = sorted(
            {
                f"{a}{b} {c}"
                for a in COMPANY_A
                for b in COMPANY_B
                for c in COMPANY_C
                if rng.random() < 0.2
            }
        )
        projects = [f"Project {a} {b}" for a in PROJECT_A for b in PROJECT_B]
        titles = [f"{a} {b}" for a in TITLE_A for b in TITLE_B]
        return cls(sorted(people), venues, companies, projects, titles)


class Slots(dict[str, Any]):
    """Slot values drawn on first use, so a template only draws what it names."""

    def __init__(self, rng: random.Random, world: World, when: datetime):
        super().__init__()
        self.rng = rng
        self.world = world
        self.when = when

    def __missing__(self, key: str) -> Any:
        rng, w = self.rng, self.world
        draw: dict[str, Callable[[], Any]] = {
            "who": lambda: rng.choice(w.people),
            "who2": lambda: rng.choice(w.people),
            "city": lambda: _plain(rng.choice(CITIES)),
            "city2": lambda: _plain(rng.choice(CITIES)),
            "venue": lambda: rng.choice(w.venues),
            "company": lambda: rng.choice(w.companies),
            "food": lambda: _plain(rng.choice(FOODS)),
            "food2": lambda: _plain(rng.choice(FOODS)),
            "drink": lambda: _plain(rng.choice(DRINKS)),
            "hobby": lambda: _plain(rng.choice(HOBBIES)),
            "instrument": lambda: rng.choice(INSTRUMENTS),
            "sport": lambda: rng.choice(SPORTS),
            "pet": lambda: _plain(rng.choice(PETS)),
            "petname": lambda: rng.choice(PET_NAMES),
            "device": lambda: _plain(rng.choice(DEVICES)),
            "airline": lambda: rng.choice(AIRLINES),
            "flight": lambda: str(rng.randrange(100, 9999)),
            "allergen": lambda: _plain(rng.choice(ALLERGENS)),
            "relation": lambda: _plain(rng.choice(RELATIONS)),
            "event": lambda: _plain(rng.choice(EVENTS)),
            "project": lambda: rng.choice(w.projects),
            "title": lambda: rng.choice(w.titles),
            "color": lambda: rng.choice(COLORS),
            "subject": lambda: _plain(rng.choice(SUBJECTS)),
            "doctor": lambda: rng.choice(DOCTORS),
            "weekday": lambda: rng.choice(WEEKDAYS),
            "month": lambda: rng.choice(MONTHS),
            "year": lambda: str(rng.choice((2023, 2024, 2025))),
            "day": lambda: str(rng.randrange(1, 29)),
            "time": lambda: f"{rng.randrange(6, 22)}:{rng.choice(('00', '15', '30', '45'))}",
            "n": lambda: str(rng.randrange(2, 13)),
            "n2": lambda: str(rng.randrange(12, 99)),
            "n3": lambda: str(rng.randrange(100, 999)),
            "km": lambda: str(rng.choice((5, 10, 21, 42, 60, 100))),
            "price": lambda: str(rng.randrange(8, 2400)),
            "pct": lambda: str(rng.randrange(3, 40)),
            "room": lambda: f"{rng.randrange(1, 9)}{rng.randrange(0, 3)}{rng.randrange(1, 9)}",
            "code": lambda: f"{rng.choice('ABCDEFGHJKLMNPRSTUVWXYZ')}{rng.randrange(10, 99)}",
            "other": lambda: rng.choice(w.people)[0],
        }
        value = draw[key]()
        self[key] = value
        return value


@dataclasses.dataclass(frozen=True)
class Template:
    memory_type: str
    text: str
    keyword: str  # a keyword query about this memory
    paraphrase: str  # a question in other words
    entity: str  # the entities it names


# {who} renders as the full name; {first} / {full} / {who2f} ... are derived in render().
TEMPLATES = [
    Template(
        "episodic",
        "{full} moved to {city} in {month} {year} to start a job at {company}.",
        "{full} moved {city}",
        "Where did {first} relocate to for the new job?",
        "{full} {company}",
    ),
    Template(
        "semantic",
        "{full} prefers {food} over {food2}, especially on {weekday} evenings.",
        "{full} {food} {food2}",
        "What does {first} like to eat more than {food2}?",
        "{full}",
    ),
    Template(
        "semantic",
        "{full} is allergic to {allergen} and always carries medication.",
        "{full} allergic {allergen}",
        "Which allergy does {first} have?",
        "{full}",
    ),
    Template(
        "episodic",
        "{full}'s flight {airline} {flight} to {city} departs at {time} on {weekday} {day} "
        "{month}.",
        "flight {airline} {flight}",
        "When does {first}'s plane to {city} leave?",
        "{full} {city} {airline}",
    ),
    Template(
        "episodic",
        "Had dinner with {full} at {venue} in {city}; the bill came to {price} euros.",
        "dinner {venue} bill",
        "How much did the meal with {first} in {city} cost?",
        "{full} {venue}",
    ),
    Template(
        "semantic",
        "{full} has a {pet} called {petname} who is {n} years old.",
        "{pet} {petname}",
        "What is the name of {first}'s {pet}?",
        "{full} {petname}",
    ),
    Template(
        "episodic",
        "{full} ran the {city} {km} km race in {n2} minutes over their personal best.",
        "{city} {km} km race {full}",
        "How did {first} do in the running event in {city}?",
        "{full} {city}",
    ),
    Template(
        "episodic",
        "The {project} review with {full} was moved to {weekday} at {time} in room {room}.",
        "{project} review",
        "When is the meeting about {project} now?",
        "{project} {full}",
    ),
    Template(
        "procedural",
        "To reset the {device}, hold the power button for {n} seconds, then enter code {code}.",
        "reset {device} code",
        "How do I restart the {device} from scratch?",
        "{device}",
    ),
    Template(
        "semantic",
        "{full} works as a {relation_job} at {company} in {city}.",
        "{full} {relation_job} {company}",
        "What is {first}'s job?",
        "{full} {company}",
    ),
    Template(
        "episodic",
        "I promised {full} to bring {food} to the {event} on {weekday}.",
        "bring {food} {event}",
        "What did I say I would bring to {first}'s {event}?",
        "{full} {event}",
    ),
    Template(
        "semantic",
        "{full} has been learning {instrument} for {n} years and practises every {weekday}.",
        "{full} {instrument}",
        "Which instrument does {first} play?",
        "{full}",
    ),
    Template(
        "episodic",
        "{full} recommended the book {title}; I borrowed it from the {city} library.",
        "book {title}",
        "Which novel did {first} suggest I read?",
        "{full} {title}",
    ),
    Template(
        "semantic",
        "My {relation} {full} lives in {city} and their birthday is on {day} {month}.",
        "{relation} {full} birthday",
        "When should I wish {first} a happy birthday?",
        "{full} {city}",
    ),
    Template(
        "episodic",
        "{full} and I went {hobby} near {city} and stayed at {venue} overnight.",
        "{hobby} {city} {venue}",
        "Where did we go for {hobby} together?",
        "{full} {city}",
    ),
    Template(
        "procedural",
        "Expense reports for {company} go to {full} before the {day}th, with receipts over "
        "{price} euros scanned.",
        "expense reports {company}",
        "Who approves my expense claims and by when?",
        "{company} {full}",
    ),
    Template(
        "semantic",
        "{full} drinks a {drink} every morning and avoids anything with {allergen}.",
        "{full} {drink}",
        "What does {first} have to drink when the day starts?",
        "{full}",
    ),
    Template(
        "episodic",
        "{full} got promoted to head of {subject} at {company} in {month} {year}.",
        "{full} promoted {company}",
        "When did {first} get the new role?",
        "{full} {company}",
    ),
    Template(
        "episodic",
        "Booked a table for {n} at {venue} on {weekday} at {time} for {full}'s {event}.",
        "table {venue} {event}",
        "Where are we celebrating {first}'s {event}?",
        "{full} {venue}",
    ),
    Template(
        "semantic",
        "{full} supports the {city} {sport} team and never misses a home game.",
        "{full} {sport} team",
        "Which team is {first} a fan of?",
        "{full} {city}",
    ),
    Template(
        "episodic",
        "{full} lent me {price} euros for the {device} repair; I still owe them the money.",
        "owe {full} {device} repair",
        "How much money do I need to pay back to {first}?",
        "{full}",
    ),
    Template(
        "semantic",
        "{full}'s favourite colour is {color} and they painted the kitchen {color} last {month}.",
        "{full} favourite colour {color}",
        "What colour does {first} like best?",
        "{full}",
    ),
    Template(
        "episodic",
        "Dentist appointment with {doctor} on {weekday} {day} {month} at {time}; {full} will "
        "pick me up.",
        "{doctor} appointment",
        "When am I seeing the dentist?",
        "{doctor} {full}",
    ),
    Template(
        "episodic",
        "{full} is taking a {subject} course at the {city} evening school every {weekday}.",
        "{full} {subject} course",
        "What class has {first} signed up for?",
        "{full} {city}",
    ),
    Template(
        "semantic",
        "The wifi password at {full}'s flat in {city} is on the fridge; the router is a "
        "{device} from {company}.",
        "wifi password {full} flat",
        "Where can I find the internet password at {first}'s place?",
        "{full} {city}",
    ),
    Template(
        "episodic",
        "{full} adopted a {pet} named {petname} from the {city} shelter in {month}.",
        "adopted {pet} {petname}",
        "Which animal did {first} take home from the shelter?",
        "{full} {petname} {city}",
    ),
    Template(
        "episodic",
        "{full} and {full2} got engaged in {city} during the {event}.",
        "{full} {full2} engaged",
        "Who is {first} going to marry?",
        "{full} {full2}",
    ),
    Template(
        "procedural",
        "For {full}'s {pet}, give {n} scoops of food at {time} and keep the door to the garden "
        "closed.",
        "{pet} food scoops",
        "How should I feed {first}'s {pet} while they are away?",
        "{full}",
    ),
    Template(
        "episodic",
        "The {company} quarterly numbers came in {pct} percent above plan, {full} said on "
        "{weekday}.",
        "{company} quarterly numbers",
        "How did {company} do against its targets this quarter?",
        "{company} {full}",
    ),
    Template(
        "semantic",
        "{full} does not eat {food} since the trip to {city} in {year}.",
        "{full} {food} {city}",
        "Is there a dish {first} refuses to eat?",
        "{full} {city}",
    ),
    Template(
        "episodic",
        "{full} sold their {device} to {full2} for {price} euros.",
        "sold {device} {price}",
        "Who bought {first}'s old {device}?",
        "{full} {full2}",
    ),
    Template(
        "episodic",
        "Watched {title} at {venue} with {full}; we both fell asleep halfway through.",
        "{title} {venue}",
        "Which film did I see with {first}?",
        "{full} {venue}",
    ),
    Template(
        "semantic",
        "{full} is vegetarian except for {food} at their grandmother's house in {city}.",
        "{full} vegetarian {food}",
        "What is the one meat dish {first} still eats?",
        "{full} {city}",
    ),
    Template(
        "procedural",
        "Parking at {venue} is free after {time} if you show the receipt to {full} at the desk.",
        "parking {venue} free",
        "How do I avoid paying for parking at {venue}?",
        "{venue} {full}",
    ),
    Template(
        "episodic",
        "{full} lost their passport in {city} and the embassy appointment is on {weekday} at "
        "{time}.",
        "{full} lost passport {city}",
        "What happened to {first}'s travel documents?",
        "{full} {city}",
    ),
    Template(
        "semantic",
        "{full} speaks {n} languages and is now learning {subject} with a tutor from {city}.",
        "{full} languages {subject}",
        "What is {first} studying at the moment?",
        "{full} {city}",
    ),
    Template(
        "episodic",
        "{full} organised a {hobby} weekend in {city} for {n2} people from {company}.",
        "{hobby} weekend {company}",
        "Who planned the team trip to {city}?",
        "{full} {company} {city}",
    ),
    Template(
        "episodic",
        "Paid {price} euros for the {device} on {day} {month}; warranty number {code}-{n3} "
        "with {company}.",
        "{device} warranty {code}-{n3}",
        "Where is the guarantee information for my {device}?",
        "{company} {device}",
    ),
    Template(
        "semantic",
        "{full} hates {hobby} but loves watching {sport} with their {relation}.",
        "{full} hates {hobby}",
        "Which activity does {first} dislike?",
        "{full}",
    ),
    Template(
        "episodic",
        "{full} finished {title} and rated it {n} out of 10 at the book club in {venue}.",
        "{full} rated {title}",
        "What did {first} think of the last book?",
        "{full} {title}",
    ),
]
JOBS = (
    "nurse architect data-analyst teacher lawyer chef pharmacist software-engineer "
    "accountant journalist carpenter pilot designer electrician researcher"
).split()


@dataclasses.dataclass(frozen=True)
class Item:
    """One memory: the REST item, and the questions that should find it."""

    body: dict[str, Any]
    queries: dict[str, str]  # kind -> query


def _render(template: str, slots: Slots) -> str:
    return template.format_map(slots)


def _fill_names(slots: Slots) -> None:
    first, last = slots["who"]
    slots["full"] = f"{first} {last}"
    slots["first"] = first
    first2, last2 = slots["who2"]
    slots["full2"] = f"{first2} {last2}"
    slots["relation_job"] = _plain(slots.rng.choice(JOBS))


START = datetime(2023, 1, 2, 8, tzinfo=UTC)
USERS = [f"user-{i:02d}" for i in range(1, 26)]


def memories(seed: int, n: int) -> Iterator[Item]:
    """`n` memories in the order they are stored: sessions of 4 to 30 memories, each one user
    on one day, days moving forward over about two years."""
    rng = random.Random(seed)
    world = World.make(random.Random(seed + 1))
    made = 0
    day = START
    session = 0
    while made < n:
        day += timedelta(minutes=rng.randrange(10, 350))  # 100k memories: about two years
        user = rng.choice(USERS)
        session += 1
        sid = f"s{session:06d}" if rng.random() < 0.6 else None
        for turn in range(min(rng.randrange(4, 31), n - made)):
            when = day + timedelta(minutes=2 * turn)
            slots = Slots(rng, world, when)
            _fill_names(slots)
            template = rng.choice(TEMPLATES)
            text = _render(template.text, slots)
            if rng.random() < 0.5:
                lead = _render(rng.choice(LEADS), slots)
                if lead and text.split()[0] in LOWER_FIRST:
                    text = text[0].lower() + text[1:]
                text = lead + text
                text = text[0].upper() + text[1:]
                text += _render(rng.choice(TAILS), slots)
            body: dict[str, Any] = {
                "content": text,
                "memory_type": template.memory_type,
                "user_id": user,
                "occurred_at": when.isoformat(),
            }
            if sid is not None:
                body["session_id"] = sid
            queries = {
                "entity": _render(template.entity, slots),
                "keyword": _render(template.keyword, slots),
                "paraphrase": _render(template.paraphrase, slots),
            }
            yield Item(body=body, queries=queries)
            made += 1


QUERY_KINDS = ("entity", "keyword", "paraphrase")


def questions(
    items: list[Item], ids: list[str], *, count: int, seed: int
) -> list[tuple[str, str, str]]:
    """`count` (kind, query, id of the memory it was made from), kinds in turn, about memories
    drawn uniformly from those stored."""
    rng = random.Random(seed)
    picked = rng.sample(range(len(items)), count)
    return [
        (QUERY_KINDS[i % 3], items[j].queries[QUERY_KINDS[i % 3]], ids[j])
        for i, j in enumerate(picked)
    ]
