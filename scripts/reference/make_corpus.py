"""Writes the English training text for the tiny fixture's SentencePiece model (deterministic, seed 7).

The sentences are generated from templates and a hand-written word list: meaningless but plain English, with
questions, numbers, punctuation and capitals, so the vocabulary looks like a (very) small T5 one.
Usage: python3 make_corpus.py OUT.txt
"""

import random
import sys

NOUNS = """planet moon star sun comet asteroid galaxy orbit telescope rocket engine river mountain forest ocean island
city village road bridge tower castle garden market school library museum hospital station harbour airport train
ship boat car bicycle house window door table chair book letter story song poem picture map clock lamp key box cup
bottle bread cheese apple orange lemon cake soup coffee tea water fire wind rain snow cloud storm season summer
winter spring autumn morning evening night day week month year century question answer reason idea problem
solution method system machine computer program language number word sentence page chapter teacher student doctor
farmer baker painter writer singer pilot sailor soldier king queen child friend family neighbour stranger animal
dog cat horse bird fish whale lion tiger bear wolf fox rabbit mouse insect bee flower tree leaf root seed stone
metal gold silver iron glass paper cloth wood light shadow colour sound music voice memory dream journey travel
experiment theory energy force mass speed distance temperature pressure surface atmosphere volcano desert valley
lake coast north south east west centre edge corner field farm factory office company team game match price
""".split()
NAMES = """Jupiter Saturn Mars Venus Mercury Neptune Uranus Earth Pluto Ganymede Europa Titan Callisto Io Phobos
Alice Bob Carol David Emma Frank Grace Henry Irene James Laura Martin Nora Oscar Paul Rosa Simon Tara Victor
London Paris Berlin Madrid Rome Vienna Prague Lisbon Dublin Oslo Tokyo Cairo Lima Quito Sydney Toronto""".split()
ADJS = """large small bright dark cold warm hot old new young ancient modern quiet loud fast slow heavy light tall
short long wide narrow deep shallow green blue red yellow white black golden strange simple difficult easy clear
busy empty full rich poor happy sad careful curious famous distant nearby inner outer frozen rocky icy sunny""".split()
VERBS = """sees finds builds carries opens closes watches follows reads writes paints sings visits crosses climbs
measures explains describes studies discovers remembers forgets chooses changes moves holds breaks fixes sells
buys brings sends orbits reflects contains""".split()
VERBS_PAST = """saw found built carried opened closed watched followed read wrote painted sang visited crossed
climbed measured explained described studied discovered remembered forgot chose changed moved held broke fixed
sold bought brought sent orbited reflected contained""".split()
PREPS = "in on near under above behind beside across through around beyond between inside outside".split()
QWORDS = ["Where is", "What is", "Why is", "How far is", "When was", "Who built", "Which", "How many"]
TASKS = ["summarize:", "translate English to German:", "translate English to French:", "answer the question:",
         "question:", "context:", "Q:", "A:"]


def sentence(r: random.Random) -> str:
    n = lambda: r.choice(NOUNS)
    a = lambda: r.choice(ADJS)
    k = r.randrange(9)
    if k == 0:
        s = f"The {a()} {n()} {r.choice(VERBS)} the {n()} {r.choice(PREPS)} the {a()} {n()}."
    elif k == 1:
        s = f"{r.choice(NAMES)} {r.choice(VERBS_PAST)} a {a()} {n()} {r.choice(PREPS)} {r.choice(NAMES)}."
    elif k == 2:
        s = f"{r.choice(QWORDS)} the {n()} {r.choice(PREPS)} the {a()} {n()}?"
    elif k == 3:
        s = f"{r.choice(QWORDS)} {r.choice(NAMES)} located in the {a()} {n()}?"
    elif k == 4:
        s = f"In {r.randrange(1500, 2030)}, {r.choice(NAMES)} {r.choice(VERBS_PAST)} {r.randrange(2, 999)} {n()}s."
    elif k == 5:
        s = f"{r.choice(TASKS)} The {n()} is {a()} and the {n()} is {a()}, but the {n()} is not."
    elif k == 6:
        s = f"It is {r.randrange(1, 100)}.{r.randrange(0, 10)} km from the {n()} to the {n()}; {r.choice(NAMES)} {r.choice(VERBS)} it."
    elif k == 7:
        s = f"\"{a().capitalize()} {n()}s {r.choice(VERBS_PAST)} the {n()},\" said {r.choice(NAMES)}."
    else:
        s = f"{r.choice(NAMES)} is a {a()} {n()} and {r.choice(NAMES)} is a {a()} {n()} (about {r.randrange(3, 90)}%)."
    return s


def main(out: str, lines: int = 3000) -> None:
    r = random.Random(7)
    with open(out, "w") as f:
        for _ in range(lines):
            f.write(" ".join(sentence(r) for _ in range(r.randrange(1, 4))) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
