"""Word lists and phrase banks for :mod:`agent_sdk.tune.examples`.

Everything here is data: verb synonyms keyed by the words of a tool's name,
nouns' alternatives, values per kind of parameter (guessed from its name and
description), number words, the politeness and filler wrappers of spoken
requests, and the banks of requests no tool should serve (chit-chat, general
questions, actions of tools that an app usually lacks). The generator checks a
bank of unserved actions against the tool set's own words before it uses it.
"""

from __future__ import annotations

from typing import Any

from agent_sdk.agent.request_features import POSITION_WORDS as AGENT_POSITION_WORDS
from agent_sdk.agent.words import SHORT_FORMS

__all__ = [
    "ACTION_FAMILIES",
    "CHIT_CHAT",
    "COUNTRIES_CAPITALS",
    "DEVICES",
    "FEATURE_CUES_MET",
    "FEATURE_DOMAINS",
    "GENERAL_QUESTIONS",
    "MORE_VALUES",
    "NOUN_ALTERNATIVES",
    "OUT_OF_SET_VALUES",
    "PREFIXES",
    "SUFFIXES",
    "UNSERVED_ACTIONS",
    "VALUE_BANKS",
    "WRAPPERS",
    "number_words",
]

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
         "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def number_words(n: int, *, hyphen: bool = False) -> str:
    """Spells a whole number the way speech-to-text writes it out.

    Args:
        n: A number from 0 to 9999 (larger ones come back as digits).
        hyphen: Join tens and ones with a hyphen ("twenty-five") instead of a space.

    Returns:
        For example ``"twenty five"``, ``"one hundred"``, ``"three hundred and ten"``.
    """
    if n < 0:
        return "minus " + number_words(-n, hyphen=hyphen)
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (("-" if hyphen else " ") + _ONES[ones] if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return _ONES[hundreds] + " hundred" + (" and " + number_words(rest, hyphen=hyphen) if rest else "")
    if n < 10000:
        thousands, rest = divmod(n, 1000)
        return _ONES[thousands] + " thousand" + (" " + number_words(rest, hyphen=hyphen) if rest else "")
    return str(n)


# Verb families. A tool joins a family when its name (or its description's first
# word) holds one of the family's ``keys``; ``verbs`` are imperative forms where
# "*" marks where a direct object may go for particle verbs ("turn * on"), so
# "turn the lights on" and "turn on the lights" both come out.
ACTION_FAMILIES: dict[str, dict[str, list[str]]] = {
    "on": {
        "keys": ["on", "enable", "activate"],
        "verbs": ["turn on", "turn * on", "switch on", "switch * on", "put on", "flip on", "flip * on",
                  "activate", "power on", "get * on", "bring * on"],
        "particle": ["on"],
    },
    "off": {
        "keys": ["off", "disable", "deactivate", "shut"],
        "verbs": ["turn off", "turn * off", "switch off", "switch * off", "shut off", "shut * off", "kill",
                  "flip off", "deactivate", "power off", "cut", "get * off"],
        "particle": ["off"],
    },
    "open": {"keys": ["open", "unlock", "raise"], "verbs": ["open", "open up", "unlock"], "particle": ["open"]},
    "close": {"keys": ["close", "lock", "lower"], "verbs": ["close", "shut", "lock"], "particle": ["closed", "shut"]},
    "set": {
        "keys": ["set", "change", "adjust", "update", "configure", "dim", "brighten", "put", "tune"],
        "verbs": ["set", "change", "adjust", "put", "bring", "turn"],
        "particle": [],
    },
    "switch": {
        "keys": ["switch", "select", "choose", "use", "pick"],
        "verbs": ["switch", "change", "set", "put", "flip", "move"],
        "particle": [],
    },
    "increase": {
        "keys": ["increase", "raise", "up", "louder", "brighten", "boost"],
        "verbs": ["increase", "raise", "turn up", "turn * up", "bump up", "bump * up", "boost"],
        "particle": ["up"],
    },
    "decrease": {
        "keys": ["decrease", "reduce", "down", "quieter", "dim"],
        "verbs": ["decrease", "lower", "reduce", "turn down", "turn * down", "bring down", "bring * down"],
        "particle": ["down"],
    },
    "create": {
        "keys": ["start", "create", "new", "make", "schedule", "book", "begin"],
        "verbs": ["create", "make", "set up", "start", "open", "add"],
        "particle": [],
    },
    "cancel": {
        "keys": ["cancel", "stop", "clear", "abort", "reset", "dismiss", "end"],
        "verbs": ["cancel", "stop", "clear", "kill", "get rid of", "turn off", "delete", "remove", "end",
                  "call off", "scrap", "shut off", "switch off"],
        "particle": [],
    },
    "add": {
        "keys": ["add", "append", "insert", "put", "save", "include"],
        "verbs": ["add", "put", "throw", "stick", "pop", "write", "jot down", "include", "toss"],
        "particle": [],
    },
    "remove": {
        "keys": ["remove", "delete", "drop", "erase", "discard"],
        "verbs": ["remove", "delete", "take", "cross", "scratch", "drop", "strike", "erase", "get rid of"],
        "particle": [],
    },
    "read": {
        "keys": ["read", "get", "list", "show", "report", "check", "status", "fetch", "query", "tell", "describe",
                 "info", "lookup"],
        "verbs": ["read", "read out", "read me", "tell me", "give me", "show me", "check", "list", "go through",
                  "report", "let me hear", "get"],
        "particle": [],
    },
    "play": {
        "keys": ["play", "stream", "listen", "queue"],
        "verbs": ["play", "put on", "start playing", "queue up", "throw on", "spin", "blast"],
        "particle": [],
    },
    "pause": {"keys": ["pause", "hold"], "verbs": ["pause", "hold", "stop", "freeze"], "particle": []},
    "send": {
        "keys": ["send", "message", "text", "email", "notify", "post", "share"],
        "verbs": ["send", "shoot", "fire off", "write"],
        "particle": [],
    },
    "call": {
        "keys": ["call", "dial", "phone", "ring"],
        "verbs": ["call", "ring", "phone", "dial", "give * a call", "give * a ring", "get * on the phone"],
        "particle": [],
    },
    "navigate": {
        "keys": ["navigate", "directions", "route", "guide"],
        "verbs": ["navigate to", "take me to", "drive me to", "get me to", "give me directions to", "directions to",
                  "route me to", "head to", "go to", "find a route to", "show me the way to", "guide me to"],
        "particle": [],
    },
    "search": {
        "keys": ["search", "find", "look", "lookup", "browse"],
        "verbs": ["search for", "look up", "find", "search", "google", "look for"],
        "particle": [],
    },
}

# Other ways people say a verb a tool is named for when no family above covers it ("pick_up", "drive", "go_to"):
# such a tool was asked with its own verb only, so a tuned model had never seen "grab my keys" or "head to the
# kitchen" tie to it. Written as a general thesaurus of imperative verbs devices and apps are named for, each
# alternative taking the same object or complement as the key ("*" marks where the object goes, as above); keys
# ending in " to" are verbs taking a place, and a key's verb gets " to" added to every alternative when the tool's
# first text parameter is a place.
VERB_ALTERNATIVES: dict[str, list[str]] = {
    "drive": ["move", "go", "roll", "head"],
    "go": ["head", "move"],
    "move": ["shift"],
    "turn": ["rotate", "spin", "swivel"],
    "rotate": ["turn", "spin"],
    "spin": ["rotate", "turn"],
    "go to": ["head to", "move to", "go over to", "get to", "make your way to"],
    "return to": ["go back to", "head back to", "get back to", "come back to"],
    "come to": ["come over to", "get over to"],
    "follow me": ["come with me", "stay with me", "walk with me", "come along"],
    "follow": ["come after", "track"],
    "stop moving": ["halt", "freeze", "stand still", "stay where you are"],
    "pick up": ["pick * up", "grab", "lift", "get hold of", "take"],
    "put down": ["put * down", "set down", "set * down", "drop", "release", "let go of"],
    "bring": ["fetch", "get", "carry over"],
    "carry": ["bring", "take"],
    "lift": ["raise", "pick up"],
    "push": ["press", "shove"],
    "press": ["push", "hit", "tap"],
    "say": ["announce", "tell everyone"],
    "announce": ["say", "tell everyone"],
    "print": ["print out", "print * out"],
    "record": ["capture", "tape"],
    "scan": ["check", "look over"],
    "charge": ["recharge", "top up"],
    "dock": ["park", "send * back", "call * back", "bring * home"],
    "park": ["dock"],
    "clean": ["clean up", "tidy up", "tidy"],
    "wash": ["clean", "rinse"],
    "water": ["give water to", "soak", "sprinkle", "give * a drink"],
    "log": ["record", "note down", "write down"],
    "feed": ["give food to"],
    "buy": ["purchase", "order", "get"],
    "order": ["buy", "get"],
    "repeat": ["replay", "say again"],
    "skip": ["skip past", "jump past"],
    "shuffle": ["mix up"],
    "wake": ["wake up", "wake * up"],
    "wake up": ["wake", "wake * up"],
    "greet": ["say hello to", "welcome"],
    "explore": ["look around", "check out"],
    "measure": ["check", "get"],
    "hide": ["put away"],
    "start": ["run", "turn on", "switch on", "put on", "get * going"],
    "run": ["start", "turn on"],
    "microwave": ["heat up", "warm up", "heat * up", "warm * up"],
    "preheat": ["heat up", "heat * up", "warm up", "warm * up"],
    "grind": ["grind up"],
    "defrost": ["thaw", "unfreeze"],
    "brew": ["make"],
    "boil": ["heat", "heat up"],
    "pause": ["hold", "stop"],
    "resume": ["continue", "unpause", "carry on with"],
    "fast forward": ["skip ahead", "jump ahead", "skip forward", "go forward"],
    "rewind": ["go back", "skip back", "jump back"],
    "like": ["love", "heart", "favorite"],
    "mute": ["silence"],
}

# Alternatives for nouns met in tool names and descriptions (singular keys).
NOUN_ALTERNATIVES: dict[str, list[str]] = {
    "light": ["lights", "light", "lamps", "lamp", "overhead lights"],
    "lights": ["lights", "light", "lamps", "lamp"],
    "brightness": ["brightness", "lights", "light", "light level"],
    "track": ["track", "song", "tune"],
    "next track": ["next track", "next song", "next one"],
    "timer": ["timer", "countdown", "kitchen timer"],
    "greenhouse roof vent": ["greenhouse roof vent", "roof vent", "greenhouse vent", "greenhouse roof", "greenhouse"],
    "greenhouse heater": ["greenhouse heater", "heater", "greenhouse heating", "greenhouse"],
    "grow lights": ["grow lights", "grow lamps", "plant lights"],
    "watering": ["watering", "sprinklers", "irrigation"],
    "timers": ["timers", "timer", "countdown", "timers and alarms", "alarms"],
    "alarm": ["alarm", "wake up alarm", "wake-up alarm"],
    "volume": ["volume", "sound", "speaker volume", "speaker"],
    "shopping list": ["shopping list", "grocery list", "list", "shopping list", "groceries list"],
    "list": ["list", "to do list", "list"],
    "status": ["system status", "status", "system info", "status report", "health"],
    "temperature": ["temperature", "heat", "thermostat"],
    "thermostat": ["thermostat", "heating", "temperature"],
    "music": ["music", "tunes", "song"],
    "song": ["song", "track", "tune"],
    "door": ["door", "front door"],
    "fan": ["fan", "ceiling fan"],
    "tv": ["tv", "television", "telly"],
    "note": ["note", "memo"],
    "reminder": ["reminder", "note to self"],
    "message": ["message", "text"],
    "radio": ["radio", "station", "radio station", "fm"],
    "fan speed": ["fan speed", "fan", "blower", "fan level"],
    "fan mode": ["fan mode", "airflow", "vents"],
    "range": ["range", "driving range", "remaining range"],
    "fuel level": ["fuel level", "fuel", "gas level"],
    "trunk": ["trunk", "boot"],
    "seat heating": ["seat heating", "seat heater", "seat warmer"],
    # Spoken requests abbreviate it far more often than they say it out ("ac on", "kill the air con").
    "air conditioning": ["air conditioning", "ac", "a/c", "air con", "aircon", "air conditioner"],
    "navigation": ["navigation", "route", "directions", "route guidance"],
    "route guidance": ["route guidance", "navigation", "route", "directions"],
    "dock": ["dock", "charger", "charging station", "charging dock", "base"],
    "photo": ["photo", "picture", "pic", "snapshot"],
    "picture": ["picture", "photo", "pic", "snapshot"],
}

# Values per kind of parameter. The generator picks a kind by looking for the
# keys in the parameter's name first, then in its description.
VALUE_BANKS: dict[str, list[str]] = {
    # Foods and dishes, raw and cooked (a food to defrost, a dish to look up, a meal to order).
    "food": ["sausages", "burgers", "fish fingers", "spinach", "croissants", "bagels", "meatballs", "chili", "steak",
             "pork chops", "garlic bread", "muffins", "cookies", "tomato soup", "beef stew", "apple pie", "pizza",
             "rice", "pasta", "shrimp", "cod fillets", "lamb chops", "chocolate cake", "fried rice",
             "mashed potatoes", "pad thai", "omelette", "strawberries", "dumplings", "turkey", "ham", "tuna steaks",
             "sweet corn", "brownies"],
    "item": ["milk", "eggs", "bread", "butter", "cheese", "apples", "bananas", "coffee", "tea", "rice", "pasta",
             "tomatoes", "onions", "garlic", "chicken", "olive oil", "toilet paper", "dish soap", "orange juice",
             "yogurt", "flour", "sugar", "cereal", "peanut butter", "paper towels", "carrots", "potatoes",
             "oat milk", "spinach", "lemons", "avocados", "salt", "black pepper", "ground beef", "salmon",
             "ice cream", "crackers", "laundry detergent", "shampoo", "toothpaste", "batteries", "cat food",
             "dog food", "sparkling water", "beer", "red wine", "strawberries", "blueberries", "honey", "jam",
             "bagels", "tortillas", "cucumbers", "bell peppers", "mushrooms", "broccoli", "grapes", "chips",
             "a dozen eggs", "two liters of milk", "whole wheat bread", "greek yogurt", "almond milk", "ketchup",
             "mustard", "mayonnaise", "hot sauce", "sponges", "trash bags", "light bulbs", "granola", "oranges",
             "limes", "soy sauce", "cinnamon", "baking soda", "coffee filters", "cream cheese", "sour cream"],
    "time": ["7:30 am", "6 am", "6:45 am", "8 pm", "9:15 pm", "5:30 pm", "7 am", "10:00", "6:30 pm",
             "11 pm", "5 am", "7:05 am", "8:30", "12:15 pm", "9 am", "6:00 am", "10:45 pm", "4:20 pm", "3 pm", "12 pm",
             "7:45", "5:15 am", "1:30 pm", "8:10 am", "11:30 am", "19:00", "06:30", "2 pm", "9:30 am", "6 pm",
             "7:30 a.m.", "6:15 p.m.", "7:30am", "6pm", "8 AM", "6:30 PM", "5.30 am", "7:10 pm", "10:30 pm", "10 am", "8:45 am", "4 am", "9:50 pm", "12:30 am", "7:20"],
    "date": ["tomorrow", "today", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
             "next week", "march 3rd", "the 15th", "june 21", "this weekend", "next friday", "december 24"],
    "person": ["mom", "dad", "alex", "sarah", "john", "emma", "my wife", "my brother", "grandma", "david",
               "lisa", "mike", "jessica", "tom", "anna", "chris", "maria", "the kids", "my boss", "kevin"],
    "city": ["Paris", "London", "Tokyo", "New York", "Berlin", "Madrid", "Chicago", "Sydney", "Toronto", "Seattle",
             "Boston", "Rome", "Amsterdam", "Dublin", "Austin", "Denver", "Lisbon", "Oslo", "Mumbai", "Seoul",
             "San Francisco", "Los Angeles", "Vancouver", "Miami", "Prague", "Vienna", "Cairo", "Lima"],
    "song": ["Bohemian Rhapsody", "Hey Jude", "Yesterday", "Imagine", "Hotel California", "Billie Jean",
             "Wonderwall", "Let It Be", "Thriller", "Hallelujah", "Shape of You", "Bad Guy", "Africa",
             "Take On Me", "Dancing Queen", "Purple Rain", "Hurt", "Jolene", "Clocks", "Yellow", "Halo",
             "Rolling in the Deep", "Smells Like Teen Spirit", "Sweet Caroline", "Blinding Lights", "Creep",
             "Here Comes the Sun", "Stairway to Heaven", "Mr. Brightside", "Superstition"],
    "artist": ["the Beatles", "Taylor Swift", "Queen", "Adele", "Miles Davis", "Beyonce", "Radiohead", "Drake",
               "Coldplay", "Daft Punk", "Bob Dylan", "Nina Simone", "Fleetwood Mac", "ABBA", "Prince",
               "Ed Sheeran", "Billie Eilish", "Pink Floyd", "Norah Jones", "Kendrick Lamar"],
    "genre": ["jazz", "rock", "classical", "hip hop", "pop", "lo-fi", "country", "blues", "reggae", "folk",
              "techno", "soul", "metal", "ambient", "indie"],
    "playlist": ["chill vibes", "workout", "morning coffee", "road trip", "focus", "dinner party", "sleep",
                 "throwbacks", "top hits", "rainy day"],
    # Podcasts and shows, said by their names.
    "show": ["serial", "planet money", "the moth", "freakonomics", "hardcore history", "science friday",
             "the daily", "radiolab", "stuff you should know", "this american life", "99% invisible", "song exploder"],
    "message": ["I'm running late", "on my way", "see you at six", "call me when you can", "dinner is ready",
                "don't forget the keys", "happy birthday", "I'll be home soon", "can you pick up the kids",
                "the meeting moved to three", "thanks for today", "running ten minutes behind", "love you",
                "where are you", "I'm at the store"],
    "query": ["pasta recipes", "how tall is mount everest", "best hiking trails", "python tutorials",
              "cheap flights to rome", "the history of jazz", "electric cars", "banana bread recipe",
              "train times", "local news", "movie times tonight", "how to fix a leaky faucet", "vegan recipes",
              "dentists near me", "yoga for beginners"],
    "title": ["groceries", "meeting notes", "weekend plans", "ideas", "project kickoff", "vacation",
              "birthday party", "weekly review", "book club", "dentist", "team lunch", "gym session"],
    "task": ["call the dentist", "pay the rent", "water the plants", "take out the trash", "buy a gift",
             "book a haircut", "renew the passport", "pick up the dry cleaning", "walk the dog",
             "reply to the email from sam", "clean the garage", "feed the cat", "fix the bike"],
    "color": ["red", "blue", "green", "warm white", "yellow", "purple", "orange", "pink", "cool white", "teal"],
    "language": ["Spanish", "French", "German", "Italian", "Japanese", "Chinese", "Portuguese", "Korean"],
    "name": ["kitchen", "office", "work", "home", "my list", "family", "project x", "weekend", "alpha", "blue"],
    "email": ["alex@example.com", "sarah@example.org", "john.doe@example.com", "team@example.com"],
    "place": ["the airport", "the office", "home", "the train station", "downtown", "the mall", "the gym",
              "the nearest gas station", "the hospital", "grandma's house", "the beach", "the library"],
    "word": ["serendipity", "ephemeral", "ubiquitous", "gregarious", "quixotic", "ambivalent", "laconic"],
    # What a garden gives (a crop picked, weighed, logged).
    "produce": ["tomatoes", "courgettes", "potatoes", "carrots", "strawberries", "apples", "lettuce", "onions",
                "cucumbers", "peppers", "raspberries", "pumpkins", "green beans", "peas", "beetroot", "radishes",
                "garlic", "plums", "pears", "rhubarb", "kale", "leeks", "sweetcorn", "broad beans", "cherry tomatoes",
                "blueberries", "parsnips", "cabbage", "chillies", "gooseberries"],
    "generic": ["something", "the usual", "test", "hello world", "the blue one", "number two", "the first one"],
}

# More values a parameter of these banks may take (full names, street addresses, longer messages): people say
# them to a phone or a car; the negatives' "{person}" templates keep to the short ones above.
MORE_VALUES: dict[str, list[str]] = {
    "person": ["Dave Miller", "Emily Chen", "James Carter", "Nina Lopez", "Dr. Shah", "Uncle Joe", "Aunt Rosa",
               "my sister", "Omar Haddad", "Grace Kim", "coach Daniels", "Sophie", "Marcus", "Ben Wright"],
    "place": ["42 Elm Street", "1200 Oak Drive", "88 Harbor Road", "the nearest coffee shop", "Central Park",
              "the closest pharmacy", "the stadium", "my office", "the nearest charging station", "the city center",
              "Fifth Avenue", "the zoo", "Pine Valley Golf Club", "the nearest parking garage", "Maple Elementary",
              "the ferry terminal", "St. Mary's Hospital", "the Hilton downtown", "Lakeview Park", "the dentist"],
    "message": ["traffic is terrible", "be there in twenty minutes", "start dinner without me", "I'm outside",
                "leaving work now", "do you need anything from the store", "parking now",
                "meet me at the front entrance"],
}

# Which value bank a parameter draws from: (bank, words in its name or description).
VALUE_BANK_KEYS: list[tuple[str, list[str]]] = [
    ("time", ["time", "clock", "when", "at"]),
    ("date", ["date", "day"]),
    ("food", ["food", "dish", "meal", "recipe", "snack", "cuisine"]),
    ("produce", ["crop", "crops", "produce", "vegetable", "vegetables", "fruit", "harvest"]),
    ("email", ["email", "mail_address"]),
    ("item", ["item", "product", "grocery", "groceries", "ingredient", "buy", "thing"]),
    ("song", ["song", "track", "tune"]),
    ("artist", ["artist", "band", "singer", "musician", "author"]),
    ("genre", ["genre", "style"]),
    ("playlist", ["playlist", "station", "album"]),
    ("show", ["show", "podcast", "series"]),
    ("message", ["message", "text", "body", "content", "note", "say"]),
    ("person", ["person", "contact", "recipient", "to", "who", "friend", "name_of"]),
    ("city", ["city", "town", "location", "where"]),
    ("place", ["destination", "place", "address", "origin"]),
    ("query", ["query", "search", "question", "term", "keyword", "topic", "subject"]),
    ("task", ["task", "todo", "reminder", "what"]),
    ("title", ["title", "label", "event", "heading"]),
    ("color", ["color", "colour"]),
    ("language", ["language", "lang"]),
    ("word", ["word", "define"]),
    ("name", ["name"]),
]

# Enum families: when two or more of an enum's values lie in one of these, the
# others are things the tool cannot take (near-miss negatives).
OUT_OF_SET_VALUES: dict[str, list[str]] = {
    "room": ["kitchen", "living room", "bedroom", "bathroom", "garage", "basement", "attic", "hallway", "office",
             "dining room", "porch", "garden", "patio", "laundry room", "nursery", "guest room", "study", "hall",
             "den", "driveway", "backyard", "closet", "pantry", "balcony"],
    "color": ["red", "blue", "green", "yellow", "purple", "orange", "pink", "white", "teal", "magenta"],
    "day": ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"],
    "source": ["radio", "spotify", "bluetooth", "tv", "cd", "aux", "usb", "vinyl", "podcast", "youtube"],
    "drink": ["espresso", "americano", "cappuccino", "latte", "flat white", "tea", "green tea", "hot chocolate",
              "smoothie", "milkshake", "orange juice", "lemonade", "iced tea"],
    "oven mode": ["bake", "fan", "grill", "steam", "air fry", "slow cook", "pizza mode", "self clean"],
    "wash program": ["eco", "quick", "intensive", "glass", "rinse only", "delicate", "half load", "sanitize"],
    "garden": ["front lawn", "back lawn", "vegetable bed", "flower bed", "greenhouse", "front gate", "orchard", "hedge",
               "patio pots", "herb patch", "hanging baskets", "window boxes", "allotment", "rockery", "shrubbery",
               "fruit trees", "shed", "driveway", "compost heap", "tennis court", "sandpit"],
}

# Shorter words people use for an enum value's word ("veg bed", "the lounge lights"); the target stays the value.
VALUE_ALTERNATIVES: dict[str, list[str]] = {k: list(v) for k, v in SHORT_FORMS.items()}  # the agent credits them
# Words that name a place by its position ("the front" for the front lawn when only one value is in front): the
# agent's, whose copy coverage credits the same.
POSITION_WORDS: set[str] = set(AGENT_POSITION_WORDS)

# Devices a home request may name; "turn on the <device>" is a near-miss when no tool mentions it.
DEVICES: list[str] = ["tv", "television", "fan", "heater", "air conditioning", "ac", "oven", "coffee machine",
                      "dishwasher", "washing machine", "radio", "sprinklers", "projector", "humidifier",
                      "space heater", "fireplace", "car", "computer", "printer", "router", "microwave",
                      "vacuum", "robot vacuum", "kettle", "stereo", "garage door", "security camera"]

# Near misses by verb: what people also do to a thing a tool makes or sets, which the tool set may not serve
# ("cancel the frost alert" beside a tool that sets it, "rename my workout playlist" beside one that plays it:
# garden and music dev sets, 2026-12-07). Keyed by the head noun of a tool's object; a verb counts only where no
# tool's words hold it and no tool undoing, reading or closing that object exists.
UNDO_VERBS: list[str] = ["cancel", "delete", "remove", "clear", "get rid of", "turn off"]
UNDONE_NOUNS: set[str] = {"alert", "alarm", "reminder", "schedule", "order", "appointment", "booking", "note",
                          "warning", "subscription"}
SHARE_VERBS: list[str] = ["delete", "rename", "share", "send", "copy", "print", "email", "remove"]
SHARED_NOUNS: set[str] = {"playlist", "photo", "picture", "snapshot", "message", "recording", "video",
                          "document", "file", "note", "list"}
# "take a video" beside a tool that takes photos: the nearest thing the tool does not make.
NEAR_OBJECTS: dict[str, list[str]] = {"photo": ["video", "selfie video"], "picture": ["video", "panorama video"],
                                      "message": ["voice note", "email"]}
# Records a tool sends or logs ("send a message", "log the harvest"): asking to see them back is a near miss when
# no tool reads them ("read my last text message", "how much did i harvest last month": cabin and garden dev sets).
RECORD_READS: dict[str, list[str]] = {
    "send": ["show me my {}s", "read me my last {}", "what was my last {}", "list my {}s", "read back my {}s",
             "go through my {}s", "did i get any {}s"],
    "log": ["show me the {} log", "read me the {} log", "what's in the {} log", "what have i logged so far",
            "read back what i logged this week", "how much have i logged this month", "show me last month's {}"],
}
# Whom a thing is shared with, or sent to (after "share" and after "send" / "email").
SHARE_WITH: list[str] = ["", "", "", " with mum", " with tom", " with my sister", " with the family"]
SEND_TO: list[str] = ["", "", "", " to dad", " to tom", " to my sister", " to grandma"]

# Things people open and close; "open the shed" is a near miss for a tool set that opens something else only
# (garden dev set, 2026-12-07).
OPENABLES: list[str] = ["shed", "garage door", "gate", "front door", "back door", "window", "curtains", "blinds",
                        "sunroof", "moonroof", "hood", "glovebox", "fuel flap", "skylight", "cupboard", "fridge door",
                        "garage", "loft hatch"]

# Openables that are the same thing under another name: when one is served, none is a near miss.
OPENABLE_ALIKE: list[set[str]] = [{"blinds", "shades", "curtains", "shutters"}, {"sunroof", "moonroof", "roof"},
                                  {"hood", "bonnet"}, {"garage", "garage door"}, {"window", "skylight"},
                                  {"fuel flap", "fuel cap", "gas cap"}, {"glovebox", "glove box", "glove compartment"}]


def alike_openables(thing: str) -> set[str]:
    """``thing`` and its other names (:data:`OPENABLE_ALIKE`)."""
    return {thing}.union(*(cls for cls in OPENABLE_ALIKE if thing in cls))


# Enum values that are the same setting under another name: a tool taking one never gets the others as near misses
# ("fan" is "convection", "intensive" is "heavy duty").
VALUE_SYNONYMS: list[set[str]] = [{"fan", "convection", "fan oven"}, {"grill", "broil"},
                                  {"intensive", "heavy", "heavy duty", "pots and pans"},
                                  {"sanitize", "hygiene", "sterilize"}, {"quick", "express", "rapid", "short"},
                                  {"eco", "economy", "energy saving"}, {"tea", "green tea", "iced tea"}]

# Wrappers of an imperative core ("{}" is the core).
WRAPPERS: list[str] = [
    "{}", "{}", "{}", "{}", "please {}", "{} please", "can you {}", "could you {}", "could you please {}",
    "would you {}", "would you please {}", "can you please {}", "I'd like you to {}", "I want you to {}",
    "go ahead and {}", "{} for me", "{}, thanks", "{}, thank you", "I need you to {}", "do me a favor and {}",
    "will you {}", "hey can you {}", "would you be able to {}", "just {}",
    "quickly {}", "{} real quick", "could you {} for me", "can you {} please",
    "you can {}", "I was wondering if you could {}", "please could you {}", "would you kindly {}", "{} now",
]

# What may come before a request (speech-to-text keeps the wake word and fillers).
PREFIXES: list[str] = ["", "", "", "", "", "", "", "", "hey", "hey,", "hey computer,", "computer,", "okay",
                       "ok so", "um", "uh", "so", "alright", "hey there,", "assistant,", "oh and", "hi,",
                       "um,", "uh,", "okay so", "right,", "hmm", "yeah", "hey assistant", "ok", "well",
                       "hello,", "excuse me,", "quick one,", "oh,", "hey buddy,"]

SUFFIXES: list[str] = ["", "", "", "", "", "", "", "", " please", " thanks", " thank you", " for me",
                       " if you can", " if you don't mind", " right now", " thx", " cheers", " asap", " pls"]

# Requests no tool serves: small talk.
CHIT_CHAT: list[str] = [
    "how are you", "how are you doing today", "tell me a joke", "tell me another joke", "thanks", "thank you",
    "thank you so much", "good morning", "good evening", "hello", "hi", "hi there", "hey there", "what's up",
    "what is your name", "who made you", "who are you", "are you a robot", "do you like music",
    "what's your favorite color", "you're awesome", "I love you", "you're funny", "never mind", "nothing",
    "forget it", "that's all", "ok cool", "nice", "great job", "how old are you", "do you have feelings",
    "can you hear me", "are you there", "are you listening", "tell me something interesting", "I'm bored",
    "I'm tired", "I'm so happy today", "what do you think about cats", "do you dream", "sing me a song",
    "say something funny", "tell me a story", "what's the meaning of life", "lol", "hmm", "ok", "cool",
    "I had a long day", "guess what", "you're the best", "bye", "goodbye", "see you later", "talk to you later",
    "what should I have for dinner", "I don't know", "whatever", "sorry", "oops", "never mind that",
    "that was wrong", "you misheard me", "nothing, sorry", "just testing", "testing one two three",
    "is anybody there", "how's it going", "what are you up to", "do you know any riddles", "knock knock",
    "tell me a fun fact", "what's your favorite movie", "are you smart", "can we be friends", "good job",
    "I'm hungry", "I feel sick", "happy birthday to me", "what day were you born", "who's a good boy",
    "how was your day", "flip a coin", "roll a die", "pick a number between one and ten",
]

COUNTRIES_CAPITALS: list[str] = ["France", "Japan", "Australia", "Canada", "Brazil", "Germany", "Italy", "Spain",
                                 "Egypt", "India", "Mexico", "Kenya", "Norway", "Peru", "Thailand", "Portugal"]

# General questions; "{country}" is filled from COUNTRIES_CAPITALS.
GENERAL_QUESTIONS: list[str] = [
    "what is the capital of {country}", "what's the capital of {country}", "where is {country}",
    "what language do they speak in {country}", "how many people live in {country}",
    "what currency does {country} use", "who wrote hamlet", "who wrote pride and prejudice",
    "who painted the mona lisa", "how far is the moon", "how far away is the sun", "why is the sky blue",
    "how many legs does a spider have", "what is photosynthesis", "who invented the telephone",
    "who was the first president of the united states", "how tall is mount everest", "what is the speed of light",
    "how many ounces in a cup", "how many feet in a mile", "what's 12 times 7", "what is 15 plus 27",
    "what's the square root of 144", "how do you spell necessary", "what does ubiquitous mean",
    "what's a synonym for happy", "how do I boil an egg", "how long do I cook pasta", "how do I tie a tie",
    "what year did world war two end", "when was the eiffel tower built", "who discovered penicillin",
    "what is the biggest ocean", "what's the tallest building in the world", "how many planets are there",
    "what is the largest animal", "how do airplanes fly", "what is a black hole", "who is the king of england",
    "how many bones are in the human body", "what's the boiling point of water", "how old is the earth",
    "what is dna", "explain quantum physics", "what's the difference between a frog and a toad",
    "how do vaccines work", "who won the world cup in 2018", "what is the longest river",
    "how many continents are there", "what is the chemical symbol for gold", "who wrote the odyssey",
    "what does a cpu do", "what is machine learning", "how do magnets work", "what's the population of tokyo",
    "why do cats purr", "how many days are in a leap year", "what's the best way to learn guitar",
    "who is albert einstein", "what's the plural of moose", "is a tomato a fruit", "can dogs eat chocolate",
    "how much water should I drink a day", "what rhymes with orange", "convert 10 miles to kilometers",
    "what's 20 percent of 80", "how many calories in an apple", "when is the next full moon",
    "who sang thriller", "what is the meaning of the word serendipity", "what is a haiku",
]

# Actions an app often lacks. A bank is used only when none of its ``keys``
# occurs among the tool set's words (names, descriptions, parameter names and
# enum values): then no tool could serve it. "{person}", "{city}", "{item}"
# and "{song}" are filled from VALUE_BANKS.
UNSERVED_ACTIONS: list[dict[str, list[str]]] = [
    {"keys": ["email", "mail", "inbox"],
     "requests": ["send an email to {person}", "email {person} about the meeting", "check my email",
                  "read my emails", "do I have any new emails", "write an email to my boss",
                  "reply to the last email", "forward that email to {person}"]},
    {"keys": ["message", "text", "sms", "send", "whatsapp", "chat"],
     "requests": ["text {person} that I'm running late", "send a message to {person}", "message {person}",
                  "send {person} a text saying hi", "read my messages", "any new texts"]},
    {"keys": ["call", "phone", "dial", "contact"],
     "requests": ["call {person}", "call mom", "phone {person}", "dial 911", "ring {person}",
                  "give {person} a call", "video call {person}"]},
    {"keys": ["pizza", "food", "order", "delivery", "restaurant", "takeout", "uber", "eats"],
     "requests": ["order a pizza", "order some sushi", "get me takeout", "order chinese food for dinner",
                  "find a restaurant nearby", "book a table for two at eight"]},
    {"keys": ["flight", "travel", "hotel", "book", "booking", "trip", "ticket"],
     "requests": ["book a flight to {city}", "find me a hotel in {city}", "book a train ticket to {city}",
                  "how much is a flight to {city}", "check my flight status", "book me a trip to {city}"]},
    {"keys": ["weather", "forecast", "rain", "sunny", "umbrella", "snow", "outside"],
     "requests": ["what's the weather", "what's the weather like in {city}", "is it going to rain today",
                  "do I need an umbrella", "what's the forecast for tomorrow", "will it snow this weekend",
                  "how hot is it outside", "weather in {city}", "is it sunny outside"]},
    {"keys": ["music", "song", "play", "spotify", "playlist", "radio", "podcast", "audio", "media", "track"],
     "requests": ["play some music", "play {song}", "put on some jazz", "play my workout playlist",
                  "skip this song", "next track", "pause the music", "play the radio", "play a podcast",
                  "what song is this"]},
    {"keys": ["calendar", "event", "meeting", "appointment", "schedule", "agenda"],
     "requests": ["what's on my calendar today", "schedule a meeting with {person} tomorrow",
                  "add a dentist appointment on friday", "when is my next meeting", "cancel my 3 pm meeting",
                  "what do I have going on tomorrow"]},
    {"keys": ["remind", "reminder", "todo", "task", "note"],
     "requests": ["remind me to call {person} tomorrow", "remind me to take my pills at 9",
                  "take a note", "make a note that the car needs gas", "add a task to pay the rent",
                  "what are my reminders"]},
    {"keys": ["news", "headline", "article"],
     "requests": ["what's the news", "read me the headlines", "any news today", "what's happening in the world"]},
    {"keys": ["navigate", "direction", "map", "route", "traffic", "drive", "destination"],
     "requests": ["navigate to the airport", "how do I get to {city}", "how's the traffic to work",
                  "directions to the nearest gas station", "how long is the drive to {city}"]},
    {"keys": ["tv", "television", "netflix", "movie", "show", "channel"],
     "requests": ["turn on the tv", "put on netflix", "change the channel", "play the next episode",
                  "what's on tv tonight"]},
    {"keys": ["door", "lock", "unlock", "garage", "gate"],
     "requests": ["lock the front door", "unlock the door", "open the garage door", "is the front door locked",
                  "close the garage"]},
    {"keys": ["thermostat", "heat", "heating", "cooling", "ac", "air", "degrees", "warm", "cold"],
     "requests": ["set the thermostat to 72", "turn up the heat", "turn on the air conditioning",
                  "make it warmer in here", "set the heating to 21 degrees", "turn the ac down"]},
    {"keys": ["translate", "translation", "language"],
     "requests": ["translate hello into spanish", "how do you say thank you in french",
                  "what's goodbye in german", "translate where is the bathroom to italian"]},
    {"keys": ["search", "web", "google", "internet", "browse", "lookup", "look"],
     "requests": ["search the web for cheap flights", "google the best pizza near me", "look up python tutorials"]},
    {"keys": ["camera", "photo", "picture", "selfie", "video", "record"],
     "requests": ["take a picture", "take a selfie", "start recording a video", "show me my photos"]},
    {"keys": ["buy", "purchase", "shop", "amazon", "cart", "pay", "payment", "money", "bank"],
     "requests": ["buy a new phone charger", "order more paper towels on amazon", "pay my electric bill",
                  "how much money is in my account", "transfer fifty dollars to {person}"]},
    {"keys": ["vacuum", "robot", "clean", "mow", "lawn"],
     "requests": ["start the vacuum", "vacuum the living room", "mow the lawn", "clean the house"]},
    {"keys": ["stock", "price", "market", "crypto", "bitcoin"],
     "requests": ["how's the stock market", "what's the price of bitcoin", "how is apple stock doing"]},
    {"keys": ["score", "game", "sport", "team", "match"],
     "requests": ["what was the score of the game last night", "who won the match", "when do the lakers play"]},
    {"keys": ["name:time", "clock", "date", "today", "now", "current"],
     "requests": ["what time is it", "what's the date today", "what day is it", "what's today's date",
                  "what time is it in {city}"]},
    {"keys": ["fan", "heater", "oven", "coffee", "kettle", "appliance", "device", "plug", "switch", "power"],
     "requests": ["turn on the fan", "start the coffee machine", "preheat the oven to 350", "boil the kettle",
                  "turn off the heater", "switch on the space heater"]},
    {"keys": ["calculate", "calculator", "math", "convert", "conversion"],
     "requests": ["what's 15 percent of 240", "calculate a 20 percent tip on 85 dollars",
                  "convert 5 pounds to kilograms"]},
]

# Features of a kind of device that an app's tools for it may lack. A tool set whose words meet at least
# FEATURE_CUES_MET of a domain's cues gets, as negatives, that domain's features whose keys none of its words
# meet: "flash the high beams" for a car whose tools set the climate, seats and windows. These are the
# unservable requests a tuned model calls most readily (they share its tools' verbs and world). Each feature is
# (keys, names, requests): "*" in a request is one of the names, "{slot}" a value bank's entry.
FEATURE_CUES_MET = 2
FEATURE_DOMAINS: list[dict[str, Any]] = [
    {"domain": "car",
     "cues": ["car", "vehicle", "cabin", "trunk", "windshield", "driver", "passenger", "fuel", "tolls", "route",
              "navigation", "tank", "refuel", "engine"],
     "features": [
         ("beam beams brights", ["the high beams", "the brights", "the low beams"],
          ["flash *", "turn on *", "switch * off", "put * on", "turn * off", "use *"]),
         ("headlight headlights headlamp headlamps", ["the headlights", "the head lights"],
          ["turn on *", "switch * off", "put * on auto", "turn * off", "are * on"]),
         ("fog", ["the fog lights", "the fog lamps"], ["turn on *", "switch off *", "put * on"]),
         ("hazard hazards", ["the hazard lights", "the hazards", "the flashers"],
          ["turn on *", "put * on", "switch off *", "turn * off"]),
         ("wiper wipers", ["the wipers", "the windshield wipers", "the rear wiper"],
          ["start *", "turn on *", "speed up *", "stop *", "set * to fast", "put * on slow", "turn * off"]),
         ("washer", ["the washer fluid", "the windshield washer"], ["spray *", "use *", "squirt *"]),
         ("defroster defrost defogger", ["the rear defroster", "the rear window defroster", "the back defogger"],
          ["turn on *", "switch on *", "turn * off", "start *"]),
         ("horn honk", ["the horn"], ["honk *", "sound *", "beep *", "honk twice", "give them a honk"]),
         ("sunroof moonroof roof", ["the sunroof", "the moonroof"],
          ["open *", "close *", "tilt *", "slide * open", "shut *", "vent *"]),
         ("sunshade shade", ["the sunshade", "the rear sunshade", "the window shade"], ["raise *", "lower *", "close *"]),
         ("cruise", ["cruise control", "the cruise control", "adaptive cruise"],
          ["turn on *", "set * to 65", "cancel *", "resume *", "switch off *", "put * on at seventy"]),
         ("lane", ["lane assist", "lane keeping", "the lane departure warning"],
          ["turn on *", "turn off *", "disable *", "switch on *"]),
         ("mirror mirrors", ["the mirrors", "the side mirrors", "the wing mirrors", "the rearview mirror"],
          ["fold *", "fold in *", "adjust *", "heat *", "tilt * down", "unfold *"]),
         ("massage", ["the seat massage", "the massage", "the back massage"],
          ["start *", "turn on *", "stop *", "switch * off", "put * on wave"]),
         ("ventilation ventilated cooling", ["the seat ventilation", "the seat cooling", "the ventilated seats"],
          ["turn on *", "switch on *", "turn * off", "put * on high"]),
         ("steering", ["the heated steering wheel", "the steering wheel heater", "the steering wheel"],
          ["turn on *", "warm up *", "switch * off", "heat *", "move * up"]),
         ("lights lighting lamp", ["the dome light", "the interior lights", "the ambient lighting",
                                  "the dashboard lights", "the reading light", "the map light"],
          ["dim *", "brighten *", "turn on *", "switch off *", "change the color of * to {color}", "turn * off"]),
         ("brake", ["the parking brake", "the handbrake", "the emergency brake"],
          ["engage *", "release *", "put on *", "is * on", "set *"]),
         ("camera dashcam", ["the backup camera", "the rear camera", "the dashcam", "the front camera"],
          ["show me *", "turn on *", "start recording with *", "switch to *", "save the clip from *"]),
         ("tire tires tyre", ["the tire pressure", "the pressure in the tires"],
          ["check *", "what's *", "is * okay", "how is *", "is * low"]),
         ("oil", ["the oil level", "the engine oil level"], ["check *", "is * low", "when do I need an oil change"]),
         ("hood bonnet", ["the hood", "the bonnet"], ["open *", "pop *", "release *"]),
         ("glovebox glove", ["the glovebox", "the glove compartment"], ["open *", "lock *", "pop open *"]),
         ("engine ignition", ["the engine"], ["start *", "turn off *", "shut off *", "kill *"]),
         ("port charging charger", ["the charge port", "the charging port", "the charging flap"],
          ["open *", "close *", "unlock *", "start charging", "stop charging", "how long until I'm fully charged"]),
         ("child", ["the child locks", "the child safety locks"], ["turn on *", "turn off *", "engage *"]),
         ("traction stability", ["traction control", "the traction control", "stability control"],
          ["turn off *", "disable *", "switch on *"]),
         ("hud heads", ["the heads up display", "the hud"], ["turn on *", "brighten *", "turn off *", "dim *"]),
         ("autopilot parking park", ["self parking", "autopark", "autopilot"],
          ["turn on *", "engage *", "start *", "park the car for me", "parallel park here"]),
         ("speed speedometer mph", ["the speed limit", "my speed"], ["what's *", "how fast am I going",
                                                                     "what's the speed limit here"]),
         ("service maintenance", ["the next service", "the next maintenance"],
          ["when is *", "when is * due", "book *"]),
     ]},
    {"domain": "phone",
     "cues": ["call", "phone", "contact", "contacts", "message", "text", "sms", "dial"],
     "features": [
         ("read inbox unread", ["my messages", "my last text", "my texts", "the last message"],
          ["read *", "read me *", "what did {person} say", "do I have any new messages", "read out *"]),
         ("missed voicemail log history recent", ["my voicemail", "my missed calls"],
          ["play *", "check *", "who called me", "any missed calls", "go through *"]),
         ("hang answer decline end", ["the call", "this call"], ["hang up", "end *", "answer *", "decline *"]),
         ("disturb silent", ["do not disturb", "silent mode"], ["turn on *", "switch on *", "turn off *", "put the phone on *"]),
         ("battery", ["my phone's battery", "the phone battery"], ["how much is left on *", "check *", "is * low"]),
     ]},
    {"domain": "media",
     "cues": ["music", "song", "songs", "play", "radio", "volume", "speaker", "speakers", "playlist", "media",
              "album", "artist"],
     "features": [
         ("skip next previous track", ["this song", "this track", "the song"],
          ["skip *", "next song", "go to the next track", "play the previous song", "skip ahead"]),
         ("pause resume unpause stop", ["the music", "the song", "playback"], ["pause *", "resume *", "unpause *"]),
         ("shuffle repeat loop", ["this playlist", "this album", "this song"], ["shuffle *", "repeat *", "loop *",
                                                                               "turn on shuffle"]),
         ("bass treble equalizer", ["the bass", "the treble"], ["turn up *", "turn down *", "boost *", "reset *"]),
         ("balance fader fade", ["the sound", "the audio"], ["move * to the front", "fade * to the back",
                                                            "center the balance"]),
         ("sings lyrics singer", ["this song", "this track"], ["who sings *", "what's the name of *", "show the lyrics",
                                                              "what song is this"]),
         ("favorite favourite favorites liked", ["this song", "this station"], ["like *", "save * to my favorites",
                                                                               "add * to my liked songs"]),
     ]},
    {"domain": "home",
     "cues": ["room", "rooms", "kitchen", "bedroom", "living", "house", "home", "lights", "brightness", "hallway"],
     "features": [
         ("blind blinds curtain curtains shade shades shutters", ["the blinds", "the curtains", "the shades",
                                                                  "the shutters"],
          ["open *", "close *", "lower *", "raise *", "draw *", "pull up *"]),
         ("dishwasher washing washer dryer laundry", ["the dishwasher", "the washing machine", "the dryer"],
          ["start *", "run *", "turn on *", "is * done", "stop *"]),
         ("sprinkler sprinklers irrigation water watering", ["the sprinklers", "the garden irrigation"],
          ["turn on *", "run *", "water the lawn", "switch off *", "water the plants"]),
         ("fireplace", ["the fireplace", "the gas fireplace"], ["light *", "turn on *", "turn off *"]),
         ("doorbell", ["the doorbell camera", "the doorbell"], ["show me *", "who's at the door", "mute *"]),
         ("security arm disarm", ["the security system", "the house alarm"],
          ["arm *", "disarm *", "turn on *", "is * armed"]),
         ("purifier humidifier dehumidifier", ["the air purifier", "the humidifier", "the dehumidifier"],
          ["turn on *", "switch * off", "set * to high", "start *"]),
         ("pool tub jacuzzi", ["the hot tub", "the pool heater", "the pool pump"], ["turn on *", "start *", "switch off *"]),
         ("coffee espresso kettle tea", ["the coffee machine", "the kettle", "the espresso maker"],
          ["start *", "make me a coffee", "turn on *", "brew a pot of coffee", "boil some water"]),
         ("fridge freezer refrigerator", ["the fridge", "the freezer"], ["set * to 4 degrees", "is * closed",
                                                                          "turn down *"]),
         ("wifi router internet network", ["the wifi", "the router", "the guest network"],
          ["restart *", "turn on *", "what's the password for *", "reset *"]),
     ]},
]
