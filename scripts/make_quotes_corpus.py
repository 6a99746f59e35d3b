"""Build ``data/01_raw/english_quotes/quotes.jsonl``: attributed English quotations for ``opt_quotes``.

Why this exists
---------------
The seed notebook fine-tuned a causal LM with LoRA on the Hub dataset
``Abirate/english_quotes`` (columns ``quote``, ``author``, ``tags``). The Hub
cannot be reached here, so this script builds a small stand-in with the same
columns from data that may be bundled: the BSD ``fortune`` cookie files as
shipped by Debian (binary packages ``fortunes`` and ``fortunes-min``, source
package ``fortune-mod``).

What is kept
------------
Only *attributed quotations*: an entry whose last line is an attribution such
as ``\\t\\t-- Mark Twain, "Pudd'nhead Wilson's Calendar"``. The author is the
person's name only: work titles, dates and remarks are cut off, titles such as
"Dr." or "Senator" dropped, and spellings of one person merged (``ALIASES``).
An entry is rejected when it

* is not in one of the ``TAGS`` files: the offensive ``off/`` files (Debian
  package ``fortunes-off``) are never read, nor are the joke, lyric, chat-log
  and fiction-heavy files of ``fortunes``;
* is a dialogue, an anecdote, verse, a list or otherwise laid out;
* is shorter than ``MIN_CHARS`` or longer than ``MAX_CHARS`` once joined;
* holds code, a URL, or a word of the conservative ``BLOCKLIST``;
* is attributed to something that is not a person (a film, a newspaper, a
  law of nature) or to a fictional character (``NOT_PEOPLE``);
* was read and struck out by hand (``REVIEWED_OUT``).

Tags come from the fortune file the entry was found in (``TAGS``); a quote in
several files gets all their tags. Quotes are deduplicated by normalised text
(case, punctuation and spacing ignored). To keep the corpus small and varied,
at most ``MAX_PER_AUTHOR`` quotes per author and ``--max-quotes`` in all are
kept, chosen by a hash of the text, so the choice is deterministic and changing
one entry does not reshuffle the rest. The output is sorted by author and text.

Each line of the output is a JSON object with ``quote`` (str), ``author``
(str), ``tags`` (list of str) and ``source`` (``fortunes/<file>``).

Regenerate
----------
    cd /tmp && apt-get download fortunes fortunes-min    # Debian 1:1.99.1-7.3
    for d in /tmp/fortunes*.deb; do dpkg -x "$d" /tmp/fortunes-x; done
    .venv/bin/python scripts/make_quotes_corpus.py \\
        --source-dir /tmp/fortunes-x/usr/share/games/fortunes \\
        --out data/01_raw/english_quotes/quotes.jsonl
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# Fortune file -> tag. Only quotation-rich files whose entries are mostly clean
# prose; cookie, men-women, drugs, ethnic, songs-poems (lyrics) and the fiction
# or chat-log files (startrek, zippy, knghtbrd, linux, perl, ...) are left out.
TAGS: dict[str, str] = {
    "art": "art",
    "computers": "computers",
    "education": "education",
    "food": "food",
    "humorists": "humor",
    "kids": "family",
    "law": "law",
    "literature": "literature",
    "love": "love",
    "medicine": "health",
    "people": "people",
    "politics": "politics",
    "science": "science",
    "sports": "sports",
    "wisdom": "wisdom",
    "work": "work",
}

MIN_CHARS = 20
MAX_CHARS = 300
MAX_PER_AUTHOR = 6
# Hard-wrapped prose fills its lines; a shorter non-final line means verse,
# a list or a dialogue, none of which reads as a single quotation.
MIN_WRAPPED_LINE = 45
MAX_UPPER_RATIO = 0.3

# Case-insensitive; a trailing "*" matches any word starting with the stem
# ("sex*" also hits "sexual"), otherwise the whole word (plural "s"/"es" too).
# Deliberately broad: a lost clean quote costs nothing, a kept offensive one
# ends up in a training set. Covers sex, slurs, violence, drugs, religion,
# profanity, generalisations about groups and partisan politics.
BLOCKLIST: tuple[str, ...] = (
    # sex and the body
    "sex*", "sensual*", "erotic*", "porn*", "nude", "nudity", "naked", "breast*",
    "penis*", "vagina*", "orgasm*", "virgin*", "bed", "adulter*", "seduc*",
    "prostitut*", "whore*", "harlot", "mistress", "brothel", "condom", "impoten*",
    "lust*", "libido", "kiss*", "bosom*", "buttock*", "ass", "arse", "butt",
    "fart*", "pee", "piss*", "poop", "shit*", "crap*", "toilet", "bathroom",
    "testicl*", "horny", "laid", "screw*", "fuck*", "blond*", "lover", "flirt*",
    "masturbat*", "celiba*", "chast*", "intercourse", "affair", "nympho*",
    "pervers*", "pervert*", "obscen*", "suck*", "puke*", "vomit*",
    # insults and slurs
    "bitch*", "bastard*", "slut*", "nigg*", "negro*", "fag*", "dyke*", "queer*",
    "homo", "homosexual*", "retard*", "idiot*", "moron*", "imbecil*", "cretin*",
    "spic", "kike", "chink", "wop", "gook", "jap", "japs", "gyp*", "tranny",
    "midget*", "cripple*", "lunatic*", "savage*", "eskimo*", "polack*",
    "redneck*", "hillbill*", "fat", "fatty", "ugly", "stupid*", "dumb*",
    "aborigin*",
    # profanity
    "damn*", "hell", "bloody", "goddam*",
    # violence and crime
    "kill*", "murder*", "shoot*", "shot", "gun*", "stab", "stabbed", "strangl*",
    "suicid*", "tortur*", "rape*", "raping", "bomb*", "massacre*", "corpse*",
    "beat", "beating", "hang", "hanged", "hangman", "hangmen", "execution*", "assassin*", "slaughter*",
    "genocid*", "hitler", "nazi*", "war", "warfare", "weapon*", "abortion*",
    "slave*", "slavery", "knife", "knives", "sword*",
    # drugs and drink
    "drug*", "drunk*", "marijuana", "cocaine", "heroin", "lsd", "stoned",
    "booze*", "whisk*", "beer*", "liquor*", "wine*", "alcohol*",
    # religion (mocking or not: kept out of the corpus altogether)
    "god", "gods", "goddess*", "jesus", "christ*", "church*", "bible*", "pope*",
    "priest*", "nun", "rabbi*", "allah", "muslim*", "islam*", "jew*", "catholic*",
    "protestant*", "baptist*", "mormon*", "satan*", "devil*", "heaven*", "sin",
    "sinner*", "sinful", "atheis*", "religio*", "pray*", "lord*", "holy", "soul",
    "saint*", "angel*", "bishop*", "clergy*", "preacher*", "theolog*", "buddh*",
    "hindu*", "zen", "damnation", "hellfire", "bless*", "voodoo",
    # groups that quotes tend to generalise about
    "women", "woman", "wife", "wives", "husband*", "girl*", "female*", "male",
    "feminis*", "gay", "lesbian*", "black*", "race", "racial*", "racis*",
    "ethnic*", "irish*", "jewish", "french*", "german*", "italian*", "mexican*",
    "polish", "russian*", "chinese", "japanese", "african*", "arab*", "indian*",
    # politicians and partisanship
    "democrat*", "republican*", "liberal*", "conservative*", "communis*",
    "socialis*", "reagan*", "nixon*", "carter*", "clinton*", "bush*",
    "kennedy*", "fascis*", "terroris*",
)  # fmt: skip
BLOCK_RE = re.compile(
    r"\b(?:"
    + "|".join(
        re.escape(w[:-1]) + r"\w*" if w.endswith("*") else re.escape(w) + r"(?:e?s)?\b"
        for w in BLOCKLIST
    )
    + ")",
    re.IGNORECASE,
)

# Characters that only appear in code, markup, ASCII art or editorial notes.
BAD_CHARS_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f{}\[\]<>|\\@#$%^*_=~+/]")
URL_RE = re.compile(r"https?:|ftp:|www\.|\.(?:com|org|net|edu)\b", re.IGNORECASE)
# "X said", "Q:" and "Name: text" mark jokes, anecdotes and exchanges.
DIALOGUE_RE = re.compile(
    r"\b(?:said|says|asked|asks|replied|replies|answered|told|retorted)\b"
    r"|^\s*[A-Z][\w .']{0,25}:\s|\bQ:|\bA:",
    re.MULTILINE,
)
# Three capitalised words in a row: a heading or a shouted lead-in ("I BET WHAT
# HAPPENED was ..."), not something to imitate.
CAPS_RUN_RE = re.compile(r"\b[A-Z][A-Z']*(?:\s+[A-Z][A-Z']*){2,}\b")
ATTRIBUTION_RE = re.compile(r"^\s*--\s*(\S.*)$")
# Everything after the name is a work, a date or a remark: it starts at the
# first comma, parenthesis, double quote, colon or semicolon, or linking word.
AFTER_NAME_RE = re.compile(r"[,(\":;]|\s(?:in|on|about|from|to|at|quoted|as|after|of)\s")
# Honorifics and offices in front of a name; "Lord" stays, it is part of names
# like "Lord Acton".
TITLE_RE = re.compile(
    r"^(?:(?:Actor|Admiral|Attorney General|Chief Justice|Dr\.|Gen\.|General|Golfer|Governor"
    r"|Judge|Justice|Marechal|Mr\.|Mrs\.|Ms\.|Prof\.|Professor|Rev\.|Sen\.|Senator|Sir)\s+)+"
)
# One token of a name: "Mark", "O'Malley", "Saint-Exupery", "T.", "Jr.", but
# not a possessive ("Becker's Razor", "Messiah's Handbook").
NAME_TOKEN_RE = re.compile(r"^(?!.*'s$)(?:[A-Z][a-z]*\.|[A-Z][a-zA-Z'\-]*[a-z][a-zA-Z'\-]*\.?)$")
NAME_PARTICLES: frozenset[str] = frozenset(
    {"de", "da", "van", "von", "der", "den", "la", "le", "du", "di", "y", "ibn", "bin"}
)
MAX_NAME_TOKENS = 5

# Single-word attributions are accepted only for these people; anything else
# with one word is a nickname, a character, a handle or a bare surname.
MONONYMS: frozenset[str] = frozenset(
    {
        "Aeschylus", "Aesop", "Anacreon", "Aristophanes", "Aristotle", "Cicero",
        "Confucius", "Democritus", "Diogenes", "Epictetus", "Epicurus", "Euripides",
        "Goethe", "Heraclitus", "Hippocrates", "Homer", "Horace", "Juvenal",
        "Martial", "Menander", "Montaigne", "Ovid", "Plato", "Plautus", "Plutarch",
        "Pythagoras", "Seneca", "Socrates", "Sophocles", "Tacitus", "Terence",
        "Thucydides", "Virgil", "Voltaire",
    }
)  # fmt: skip

# Other spellings -> one name per person (applied after titles are dropped).
ALIASES: dict[str, str] = {
    "A. Camus": "Albert Camus",
    "A. Einstein": "Albert Einstein",
    "Albert Einstien": "Albert Einstein",
    "Einstein": "Albert Einstein",
    "A. J. Perlis": "Alan Perlis",
    "A. Perlis": "Alan Perlis",
    "A. Lincoln": "Abraham Lincoln",
    "A. Schweitzer": "Albert Schweitzer",
    "Alan Shepherd": "Alan Shepard",
    "Andy Tanenbaum": "Andrew S. Tanenbaum",
    "Arthur Clarke": "Arthur C. Clarke",
    "B. Baruch": "Bernard Baruch",
    "B. Franklin": "Benjamin Franklin",
    "Ben Franklin": "Benjamin Franklin",
    "Bergan Evans": "Bergen Evans",
    "Bertold Brecht": "Bertolt Brecht",
    "Bill Vaughn": "Bill Vaughan",
    "C. G. Jung": "Carl Jung",
    "C. N. Parkinson": "C. Northcote Parkinson",
    "Cyril Northcote Parkinson": "C. Northcote Parkinson",
    "C. Schultz": "Charles Schulz",
    "C. Schulz": "Charles Schulz",
    "Collis P. Huntingdon": "Collis P. Huntington",
    "D. Cavett": "Dick Cavett",
    "D. E. Knuth": "Donald Knuth",
    "Don Knuth": "Donald Knuth",
    "D. M. Ritchie": "Dennis Ritchie",
    "Dennis M. Ritchie": "Dennis Ritchie",
    "Decimus Junius Juvenalis": "Juvenal",
    "E. Dijkstra": "Edsger Dijkstra",
    "Edsger W. Dijkstra": "Edsger Dijkstra",
    "E. W. Howe": "Ed Howe",
    "Edgar W. Howe": "Ed Howe",
    "Edwim Schrodinger": "Erwin Schrodinger",
    "Emerson": "Ralph Waldo Emerson",
    "F. Allen": "Fred Allen",
    "F. Brooks": "Fred Brooks",
    "Frederick Brooks": "Fred Brooks",
    "Frederick Brooks Jr.": "Fred Brooks",
    "F. Dostoyevski": "Fyodor Dostoevsky",
    "Feodor Dostoevsky": "Fyodor Dostoevsky",
    "F. M. Hubbard": "Kin Hubbard",
    "Frank Hubbard": "Kin Hubbard",
    "Kim Hubbard": "Kin Hubbard",
    "Finlay Peter Dunne": "Finley Peter Dunne",
    "Frederick Crane": "Frank Crane",
    "G. B. Shaw": "George Bernard Shaw",
    "George Will": "George F. Will",
    "H. S. Thompson": "Hunter S. Thompson",
    "H. W. Longfellow": "Henry Wadsworth Longfellow",
    "Harry Truman": "Harry S. Truman",
    "Honore DeBalzac": "Honore de Balzac",
    "J. F. Kennedy": "John F. Kennedy",
    "J. K. Galbraith": "John Kenneth Galbraith",
    "Jean Paul Sartre": "Jean-Paul Sartre",
    "Jerome Klapka Jerome": "Jerome K. Jerome",
    "Johann Wolfgang von Goethe": "Goethe",
    "Lao Tse": "Lao Tzu",
    "Lao Tsu": "Lao Tzu",
    "Lao-Tse": "Lao Tzu",
    "Laurence Peter": "Laurence J. Peter",
    "Leibnitz": "Gottfried Leibniz",
    "Leonardo Da Vinci": "Leonardo da Vinci",
    "Lucius Annaeus Seneca": "Seneca",
    "M. Proust": "Marcel Proust",
    "Marcus Tullius Cicero": "Cicero",
    "Michel Eyquem de Montaigne": "Michel de Montaigne",
    "Milton Friendman": "Milton Friedman",
    "N. Wiener": "Norbert Wiener",
    "Napoleon": "Napoleon Bonaparte",
    "Nietzsche": "Friedrich Nietzsche",
    "Nikita Khruschev": "Nikita Khrushchev",
    "Otto Von Bismarck": "Otto von Bismarck",
    "Otto von Bismark": "Otto von Bismarck",
    "P. Denning": "Peter J. Denning",
    "P. J. Denning": "Peter J. Denning",
    "P. Medawar": "Peter Medawar",
    "Publius Syrus": "Publilius Syrus",
    "Publius Terentius Afer": "Terence",
    "Publius Vergilius Maro": "Virgil",
    "Quintus Horatius Flaccus": "Horace",
    "R. P. Feynman": "Richard Feynman",
    "Richard P. Feynman": "Richard Feynman",
    "R. Stallman": "Richard Stallman",
    "R. A. Heinlein": "Robert A. Heinlein",
    "Robert Heinlein": "Robert A. Heinlein",
    "S. Johnson": "Samuel Johnson",
    "Dr. Johnson": "Samuel Johnson",
    "Saint Exupery": "Antoine de Saint-Exupery",
    "Sam Goldwyn": "Samuel Goldwyn",
    "Samuel Clemens": "Mark Twain",
    "Shakespeare": "William Shakespeare",
    "Wm. Shakespeare": "William Shakespeare",
    "Stefan Zweigs": "Stefan Zweig",
    "Thomas Alva Edison": "Thomas Edison",
    "Thoreau": "Henry David Thoreau",
    "Titus Maccius Plautus": "Plautus",
    "Tobias Smollet": "Tobias Smollett",
    "W. Churchill": "Winston Churchill",
    "W. S. Maugham": "W. Somerset Maugham",
    "Somerset Maugham": "W. Somerset Maugham",
    "William Buckley": "William F. Buckley",
}

# Attributions shaped like a person's name that are fictional characters,
# pen-name personas, performers' acts or made-up sources: a fine-tuned model
# should not learn to quote them as if they were people.
NOT_PEOPLE: frozenset[str] = frozenset(
    {
        "Alfred E. Neuman", "Alfred E. Newman", "Andy Capp", "Anonymous",
        "Beauregard Bugleboy", "Biff Barf", "Black Sabbath", "Buckaroo Banzai",
        "Buckaroo Bonzai", "Bullwinkle Moose", "Butch Cassidy", "Calvin",
        "Charlie Brown", "Charlie McCarthy", "Cosmo Fishhawk", "Crazy Charlie",
        "Crazy Jimmy", "Crow T. Robot", "Dagny Taggart", "Dagwood Bumstead",
        "Darth Vader", "Dirty Harry", "Doctor Who", "Don Quixote", "Firesign Theatre",
        "Foghorn Leghorn", "Ford Prefect", "Garfield", "Governor Tarkin", "Han Solo",
        "Hobbes", "Humphrey Appleby", "Ignatius Reilly", "Indiana Jones",
        "J. Wellington Wells", "Joe Cointment", "Kehlog Albran", "Kilgore Trout",
        "Lazarus Long", "Lord John Whorfin", "Lucy Van Pelt", "Ma Barker", "Luke Skywalker",
        "Markoff Chaney", "Mary Poppins", "Mickey Mouse", "Miss Oglethorp",
        "Miss Piggy", "Monty Python", "Mr. Dooley", "Mr. Interesting",
        "Munich Schoolmaster", "National Lampoon", "Nero Wolfe", "Obi-wan Kenobi",
        "Oliver Warbucks", "Peter Venkman", "Princess Leia Organa", "Psychology Professor",
        "English Professor", "Raoul Duke", "Rhett Buggler", "Salvor Hardin", "Shogun Tokugawa",
        "Solomon Short", "Strange de Jim", "Sun Microsystems", "Top Ten List",
        "Travis McGee", "Waldo D. R. Dobbs", "Watchman Examiner", "Who",
        "Zaphod Beeblebrox",
    }
)  # fmt: skip

# Words that never appear in a person's name but often in attributions of
# books, papers, institutions, laws and sayings.
NOT_NAME_WORDS: frozenset[str] = frozenset(
    {
        "The", "A", "An", "Of", "And", "Law", "Laws", "Rule", "Rules", "Principle",
        "Razor", "Proverb", "Saying", "Motto", "Book", "Handbook", "Manual",
        "Journal", "Times", "News", "Magazine", "Press", "University", "College",
        "Company", "Corporation", "Inc.", "Department", "Committee", "Calendar",
        "Almanac", "Review", "Report", "Show", "Movie", "Film", "Song", "Poem",
        "Quarterly", "Post", "Daily", "Weekly", "Radio", "Television", "TV",
        "Digest", "Gazette", "Tribune", "Herald", "Chronicle", "Dictionary",
        "Encyclopedia", "Story", "Old", "Ancient", "Graffiti", "Graffito",
        "Fortune", "Bumper", "Sticker", "Sign", "Ad", "Advertisement", "Headline",
        "Epitaph", "Slogan", "Memo", "Unknown", "Someone", "Somebody", "Overheard",
        "Heard", "Seen", "From", "My", "Your", "His", "Her", "Our", "Their", "Mom",
        "Dad", "Mother", "Father", "Sister", "Brother", "Uncle", "Aunt", "Grandma",
        "Grandpa", "Mayonnaise", "Reference", "Technical", "System", "Professor",
    }
)  # fmt: skip

# Normalised-text prefixes (see ``dedup_key``) of entries that pass every
# filter but were struck out after reading the output: innuendo, jokes that
# need context, or lines that are not sayings.
REVIEWED_OUT: tuple[str, ...] = (
    "adoptedkidsaresuchapainyouhavetoteachthe",  # Gilda Radner
    "harkyeclinkeryouareamostnotoriousoffende",  # Tobias Smollett (novel dialogue)
    "idontmindwhatcongressdoesaslongastheydon",  # "Victor Hugo": misattributed innuendo
    "iamreadytomeetmymakerwhethermymakerispre",  # Winston Churchill
    "igotahintofthingstocomewhenioverheardmyb",  # Tamim Ansary (anecdote)
    "ifyouwantdivinejusticedie",  # Nick Seldon
    "itrustthefirstlionhemeetswilldohisduty",  # J. P. Morgan
    "itsfromcasablancaivebeenwaitingallmylife",  # Woody Allen (needs context)
    "iwasthebestieverhad",  # Woody Allen
    "lethimchooseoutofmyfileshisprojectstoacc",  # William Shakespeare (pun on "files")
    "lukeimyerfatherehcomeovertothedarksideyo",  # Dave Thomas (parody of a film line)
    "neverraiseyourhandtoyourchildrenitleaves",  # Robert Orben
    "rincewindformedamentalpictureofsomestran",  # Terry Pratchett (narration)
    "thereisnohuntinglikethehuntingofmanandth",  # Ernest Hemingway
    "thereisagooddealofsolemncantaboutthecomm",  # Brooks Atkinson ("cutting ... throat")
    "tocraunchamarmoset",  # Pedro Carolino (a phrase, not a saying)
    "todayofcourseitisconsideredverypoortaste",  # Dave Barry ("F-word")
    "unixwashalfabillion500000000secondsoldon",  # Andrew S. Tanenbaum (a timestamp)
)


@dataclass
class Quote:
    """One kept quotation; ``tags`` grows when the same text turns up in other files."""

    quote: str
    author: str
    source: str
    tags: set[str] = field(default_factory=set)

    def as_json(self) -> str:
        record = {
            "quote": self.quote,
            "author": self.author,
            "tags": sorted(self.tags),
            "source": self.source,
        }
        return json.dumps(record, ensure_ascii=False)


def split_entries(text: str) -> list[list[str]]:
    """Split a fortune file on its ``%`` lines into entries (lists of lines)."""
    entries: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.strip() == "%":
            entries.append([])
        else:
            entries[-1].append(line.rstrip())
    return [e for e in entries if any(line.strip() for line in e)]


def split_attribution(lines: list[str]) -> tuple[list[str], str] | None:
    """Separate body lines from the ``-- Author`` attribution, or ``None`` if unattributed."""
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    while lines and not lines[0].strip():
        lines = lines[1:]
    # The attribution may wrap onto indented continuation lines, so look a few
    # lines up from the end for the one that starts with "--".
    for i in range(len(lines) - 1, max(len(lines) - 4, 0), -1):
        match = ATTRIBUTION_RE.match(lines[i])
        if match is None:
            continue
        continuation = lines[i + 1 :]
        if any(not line[:1].isspace() for line in continuation):
            return None
        attribution = " ".join([match.group(1), *(c.strip() for c in continuation)])
        return lines[:i], attribution
    return None


def _is_name(tokens: list[str]) -> bool:
    """Whether the tokens read as a person's full name."""
    if len(tokens) == 1:
        return tokens[0] in MONONYMS
    initials = [len(t.rstrip(".")) == 1 for t in tokens]
    return (
        len(tokens) <= MAX_NAME_TOKENS
        and not all(initials)
        # "A. Bax": one initial and a surname is too little to tell who it is.
        and not (len(tokens) == 2 and initials[0])
        and all(t not in NOT_NAME_WORDS for t in tokens)
        and all(t in NAME_PARTICLES or NAME_TOKEN_RE.match(t) for t in tokens)
    )


def person_name(attribution: str) -> str | None:
    """Return the person's name from an attribution, or ``None`` if it is not a person."""
    name = AFTER_NAME_RE.split(attribution + " ", maxsplit=1)[0]
    name = re.sub(r"\s+", " ", name).strip()
    if "/" in name or re.search(r"\d", name):
        return None
    # A final full stop ends the attribution, unless it belongs to "Jr." or "T.".
    if name.endswith(".") and not re.search(r"(?:\b[A-Z]|Jr|Sr|Dr|Mr|Mrs|St)\.$", name):
        name = name[:-1]
    name = ALIASES.get(name, name)
    name = ALIASES.get(TITLE_RE.sub("", name), TITLE_RE.sub("", name))
    if name in NOT_PEOPLE or not _is_name(name.split(" ")):
        return None
    return name


def _is_plain_layout(body: list[str]) -> bool:
    """Whether the lines are one hard-wrapped prose paragraph."""
    return (
        bool(body)
        # A blank line means several paragraphs: an anecdote or a punch line.
        and all(line.strip() for line in body)
        # A tab on the first line is a paragraph indent; on later ones it is
        # verse, a list or a dialogue layout.
        and not any(line[:1].isspace() for line in body[1:])
        and all(len(line.strip()) >= MIN_WRAPPED_LINE for line in body[:-1])
    )


def _is_clean_text(text: str) -> bool:
    """Whether joined text is a plain, inoffensive quotation of the right length."""
    letters = [c for c in text if c.isalpha()]
    return (
        MIN_CHARS <= len(text) <= MAX_CHARS
        # Reported speech inside the quote is usually an exchange or a joke.
        and '"' not in text
        and bool(letters)
        and sum(c.isupper() for c in letters) / len(letters) <= MAX_UPPER_RATIO
        # "... and so" openings and endings without punctuation are fragments,
        # headings or set-up lines.
        and (text[0].isupper() or text[0].isdigit())
        and text[-1] in ".!?'"
        and not CAPS_RUN_RE.search(text)
        and not BAD_CHARS_RE.search(text)
        and not URL_RE.search(text)
        and not DIALOGUE_RE.search(text)
        and not BLOCK_RE.search(text)
    )


def clean_body(body: list[str]) -> str | None:
    """Join body lines into one quotation, or ``None`` if the entry is not a plain quote."""
    if not _is_plain_layout(body) or DIALOGUE_RE.search("\n".join(body)):
        return None
    text = re.sub(r"\s+", " ", " ".join(body)).strip()
    # Old fortunes open quotes with a backtick (`like this'): use apostrophes.
    text = text.replace("`", "'")
    if text.count('"') == 2 and text.startswith('"') and text.endswith('"'):
        text = text[1:-1].strip()  # the whole entry is one quoted sentence
    return text if _is_clean_text(text) else None


def dedup_key(text: str) -> str:
    """Key that ignores case, punctuation and spacing."""
    return re.sub(r"[^a-z0-9]+", "", text.casefold())


def read_fortunes(source_dir: Path) -> tuple[list[Quote], Counter[str]]:
    """Parse the ``TAGS`` fortune files; return deduplicated quotes and per-file hit counts."""
    kept: dict[str, Quote] = {}
    per_file: Counter[str] = Counter()
    for name in sorted(TAGS):
        path = source_dir / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing; see the module docstring")
        for entry in split_entries(path.read_text(encoding="utf-8")):
            split = split_attribution(entry)
            if split is None:
                continue
            author = person_name(split[1])
            quote = clean_body(split[0])
            if author is None or quote is None:
                continue
            key = dedup_key(quote)
            if key.startswith(REVIEWED_OUT):
                continue
            per_file[name] += 1
            if key in kept:
                kept[key].tags.add(TAGS[name])
            else:
                kept[key] = Quote(quote, author, f"fortunes/{name}", {TAGS[name]})
    return list(kept.values()), per_file


def select(quotes: list[Quote], max_quotes: int, max_per_author: int) -> list[Quote]:
    """Pick a varied, deterministic subset and return it sorted by author and text."""

    def rank(q: Quote) -> str:
        # A hash of the text: stable across runs and independent of the other
        # entries, unlike a seeded shuffle.
        return hashlib.sha256(dedup_key(q.quote).encode()).hexdigest()

    chosen: list[Quote] = []
    per_author: Counter[str] = Counter()
    for q in sorted(quotes, key=rank):
        if len(chosen) == max_quotes:
            break
        if per_author[q.author] < max_per_author:
            per_author[q.author] += 1
            chosen.append(q)
    return sorted(chosen, key=lambda q: (q.author.casefold(), q.quote.casefold(), q.quote))


def write_jsonl(quotes: list[Quote], out: Path) -> None:
    """Write one JSON object per line, replacing ``out`` only once the file is complete."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=out.parent, suffix=".tmp", delete=False
    ) as tmp:
        tmp.writelines(q.as_json() + "\n" for q in quotes)
    # NamedTemporaryFile creates the file private (0600); a data file belongs
    # to whoever checks the repository out.
    Path(tmp.name).chmod(0o644)
    Path(tmp.name).replace(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--source-dir",
        type=Path,
        required=True,
        help="folder of fortune files (usr/share/games/fortunes of the extracted "
        "Debian fortunes and fortunes-min packages)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("data/01_raw/english_quotes/quotes.jsonl"),
        help="JSON Lines file to write (default: %(default)s)",
    )
    parser.add_argument(
        "--max-quotes", type=int, default=800, help="keep at most this many (default: %(default)s)"
    )
    parser.add_argument(
        "--min-quotes",
        type=int,
        default=300,
        help="fail if fewer survive the filters (default: %(default)s)",
    )
    args = parser.parse_args(argv)

    found, per_file = read_fortunes(args.source_dir)
    quotes = select(found, args.max_quotes, MAX_PER_AUTHOR)
    if len(quotes) < args.min_quotes:
        print(f"only {len(quotes)} quotes survived the filters", file=sys.stderr)
        return 1
    write_jsonl(quotes, args.out)

    print(f"wrote {len(quotes)} of {len(found)} unique quotes to {args.out}")
    for name in sorted(TAGS):
        print(f"  fortunes/{name}: {per_file[name]} entries passed the filters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
