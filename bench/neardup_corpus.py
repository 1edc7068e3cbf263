"""A labelled near-duplicate corpus for the similarity gates of validate_rows (used by bench/bench_neardup.py and
to build the small fixture under tests/data/fixtures/).

Rows look like users' rows: support tickets, questions and commands in English, German, French, Spanish and
Chinese, mostly short. Each original is a template filled with slot values (names, order numbers, amounts,
times, products, versions); long originals join several filled templates of one language into a paragraph.

From an original, one edit family makes a near copy, the kind people and teacher models make:

    punctuation  spacing  casing  insert  delete  swap  synonym  numbers  sentence_added  two_edits

Hard negatives are the same templates filled with different facts (every slot changed): they must be kept.
The planted cases, by the gate that should catch them:

    near_dup        a near copy with the same label          -> rejected as near_dup (or exact_dup), naming its original
    label_conflict  a near copy with another label           -> rejected as label_consistency, naming its original
    eval_leak       a near copy of an eval row               -> rejected as eval_leak, naming the eval row
    hard_negative   same template(s), two or more facts changed -> accepted
    same_name_negative same template(s), the same person named, every other fact changed -> accepted
    one_fact_negative  a one-slot template with its one fact changed -> reported apart: lexically it is a one-word
                    edit, so a similarity gate cannot tell it from a synonym swap
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field

FAMILIES = ("punctuation", "spacing", "casing", "insert", "delete", "swap", "synonym", "numbers", "sentence_added",
            "two_edits")
LABELS = [("billing", "high"), ("billing", "low"), ("refund", "normal"), ("shipping", "high"), ("shipping", "low"),
          ("account_access", "urgent"), ("bug_report", "high"), ("bug_report", "normal"), ("other", "low")]

SLOTS = {
    "name": ["Maria", "John", "Aisha", "Kenji", "Lukas", "Sofia", "Omar", "Chloe", "Ravi", "Elena", "Tomasz", "Grace",
             "Diego", "Yuki", "Hannah", "Mateo", "Nadia", "Pierre", "Ingrid", "Kwame"],
    "order": [f"#{n}" for n in (48213, 77120, 10934, 55601, 23987, 91245, 60318, 38472, 84150, 12766, 70093, 45528,
                                29314, 66871, 53209, 18840, 97436, 31057, 82611, 40775)],
    "amount": ["$1,250.00", "$89.99", "$2,400", "$15.50", "$349.00", "$7,800", "$42.10", "$1,099.00", "$560",
               "$23.75", "$3,150.40", "$610.00", "$12.99", "$4,999", "$275.25", "$88", "$1,480.60", "$35.00",
               "$9,250", "$199.95"],
    "time": ["9am", "10:30am", "2pm", "11pm", "7am", "4:15pm", "noon", "6pm", "8:45am", "midnight", "3pm", "5:20am",
             "1pm", "9:30pm", "12:10pm", "10pm", "6:40am", "3:55pm", "8pm", "4am"],
    "product": ["Dashboard", "mobile app", "invoice export", "API gateway", "billing portal", "search page",
                "calendar sync", "CSV importer", "SSO login", "notification service", "report builder", "checkout",
                "desktop client", "webhook relay", "photo uploader", "chat widget", "admin console", "payroll module",
                "inventory view", "map tiles"],
    "version": ["Android 14", "iOS 17.2", "Windows 11", "macOS 14.3", "Chrome 121", "Firefox 122", "Android 13",
                "iOS 16.7", "Ubuntu 22.04", "Safari 17", "Edge 120", "Android 12", "iPadOS 17", "Fedora 39",
                "ChromeOS 120", "Windows 10", "Pixel 8", "Galaxy S23", "iPhone 15", "Debian 12"],
    "city": ["Berlin", "Lyon", "Madrid", "Osaka", "Toronto", "Nairobi", "Lima", "Oslo", "Perth", "Porto", "Krakow",
             "Austin", "Seoul", "Dublin", "Quito", "Leeds", "Turin", "Cairo", "Hanoi", "Denver"],
    "count": ["3", "12", "27", "150", "4", "8", "45", "2", "19", "1,200", "6", "73", "5", "31", "9", "640", "14",
              "2,500", "11", "58"],
    "day": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "March 3", "May 19",
            "June 7", "July 22", "August 30", "October 2", "November 14", "December 9", "January 26", "April 11",
            "September 5", "February 17", "yesterday"],
}
# slot values in the other languages: the same shapes, local words
SLOTS_DE = {**SLOTS, "day": ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag",
                             "3. März", "19. Mai", "7. Juni", "22. Juli", "30. August", "2. Oktober", "14. November",
                             "9. Dezember", "26. Januar", "11. April", "5. September", "17. Februar", "gestern"],
            "amount": ["1.250,00 €", "89,99 €", "2.400 €", "15,50 €", "349,00 €", "7.800 €", "42,10 €", "1.099,00 €",
                       "560 €", "23,75 €", "3.150,40 €", "610,00 €", "12,99 €", "4.999 €", "275,25 €", "88 €",
                       "1.480,60 €", "35,00 €", "9.250 €", "199,95 €"],
            "time": ["9 Uhr", "10:30 Uhr", "14 Uhr", "23 Uhr", "7 Uhr", "16:15 Uhr", "12 Uhr", "18 Uhr", "8:45 Uhr",
                     "0 Uhr", "15 Uhr", "5:20 Uhr", "13 Uhr", "21:30 Uhr", "12:10 Uhr", "22 Uhr", "6:40 Uhr",
                     "15:55 Uhr", "20 Uhr", "4 Uhr"]}
SLOTS_FR = {**SLOTS_DE, "day": ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche", "3 mars",
                                "19 mai", "7 juin", "22 juillet", "30 août", "2 octobre", "14 novembre",
                                "9 décembre", "26 janvier", "11 avril", "5 septembre", "17 février", "hier"],
            "amount": [a.replace(".", " ") for a in SLOTS_DE["amount"]],
            "time": [t.replace(" Uhr", "h").replace(":", "h") for t in SLOTS_DE["time"]]}
SLOTS_ES = {**SLOTS_DE, "day": ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo",
                                "3 de marzo", "19 de mayo", "7 de junio", "22 de julio", "30 de agosto",
                                "2 de octubre", "14 de noviembre", "9 de diciembre", "26 de enero", "11 de abril",
                                "5 de septiembre", "17 de febrero", "ayer"],
            "time": [t.replace(" Uhr", " h") for t in SLOTS_DE["time"]]}
SLOTS_ZH = {**SLOTS, "day": ["周一", "周二", "周三", "周四", "周五", "周六", "周日", "3月3日", "5月19日", "6月7日",
                             "7月22日", "8月30日", "10月2日", "11月14日", "12月9日", "1月26日", "4月11日", "9月5日",
                             "2月17日", "昨天"],
            "name": ["王芳", "李伟", "张敏", "刘洋", "陈静", "杨帆", "赵磊", "黄丽", "周杰", "吴霞", "徐强", "孙悦",
                     "马超", "朱琳", "胡斌", "郭婷", "何军", "高雪", "林峰", "罗敏"],
            "amount": ["1,250元", "89.99元", "2,400元", "15.50元", "349元", "7,800元", "42.10元", "1,099元", "560元",
                       "23.75元", "3,150元", "610元", "12.99元", "4,999元", "275元", "88元", "1,480元", "35元",
                       "9,250元", "199元"],
            "city": ["北京", "上海", "广州", "深圳", "成都", "杭州", "武汉", "西安", "南京", "重庆", "天津", "苏州",
                     "长沙", "郑州", "青岛", "厦门", "昆明", "大连", "沈阳", "济南"],
            "time": ["9点", "10点半", "下午2点", "晚上11点", "早上7点", "下午4点", "中午", "下午6点", "8点45分",
                     "午夜", "下午3点", "5点20分", "下午1点", "晚上9点半", "12点10分", "晚上10点", "6点40分",
                     "下午3点55分", "晚上8点", "凌晨4点"]}

SURNAMES = ["Garcia", "Smith", "Khan", "Tanaka", "Weber", "Rossi", "Haddad", "Dubois", "Patel", "Ivanova", "Nowak",
            "Okafor", "Silva", "Sato", "Fischer", "Lopez", "Mensah", "Laurent", "Berg", "Kim"]
ZH_GIVEN = ["伟", "芳", "敏", "洋", "静", "帆", "磊", "丽", "杰", "霞", "强", "悦", "超", "琳", "斌", "婷", "军", "雪",
            "峰", "涛"]
PRODUCT_PARTS = ["team", "partner", "legacy", "store", "field", "cloud", "kiosk", "guest", "school", "studio"]
CITY_PARTS = ["North", "South", "East", "West", "Old", "Port", "New", "Upper", "Lower", "Central"]
ZH_CITY_PARTS = ["东区", "西区", "南区", "北区", "新区", "开发区", "高新区", "老城", "港区", "城郊"]


def _expand(slots: dict, lang: str) -> dict:
    """Bigger pools of names, products and places (composed), so that two rows share such a fact by chance
    only rarely; a template's fills then differ in every slot."""
    out = dict(slots)
    if lang == "zh":
        out["name"] = [s[0] + g for s in slots["name"] for g in ZH_GIVEN]
        out["city"] = [c + p for c in slots["city"] for p in ZH_CITY_PARTS]
    else:
        out["name"] = [f"{n} {s}" for n in slots["name"] for s in SURNAMES]
        out["city"] = [f"{p} {c}" for c in slots["city"] for p in CITY_PARTS]
    out["product"] = [f"{p} {q}" for p in slots["product"] for q in PRODUCT_PARTS]
    return out


TEMPLATES = {
    "en": [
        "The {product} crashes every time I open it on {version}.",
        "Since {time} UTC, production is down and the {product} returns errors.",
        "{product} charts show yesterday's data only, nothing from {day}.",
        "I was charged {amount} twice for order {order}, please refund one of them.",
        "Order {order} still hasn't arrived in {city}, it was due on {day}.",
        "My name is {name} and I can't log in to the {product} after the password reset.",
        "Can you move my delivery for order {order} to {day} after {time}?",
        "We need {count} more seats on the team plan before {day}.",
        "The invoice for {amount} lists the wrong company address in {city}.",
        "After updating to {version} the {product} no longer sends notifications.",
        "Please cancel my subscription, I was billed {amount} on {day} without notice.",
        "How do I export {count} reports from the {product} as a CSV file?",
        "The courier left order {order} at the wrong door in {city} on {day}.",
        "{name} from our {city} office cannot reset the two-factor code.",
        "Is there a discount if we pay {amount} for a whole year upfront?",
        "The {product} has been loading for minutes since {time} today.",
        "Refund order {order} please, the item arrived broken on {day}.",
        "Why does the {product} log me out every few minutes on {version}?",
        "Our card was declined for {amount} although the bank shows enough funds.",
        "Add {name} as an admin to the workspace and remove the old owner.",
        "Tracking for order {order} has not updated since {day} in {city}.",
        "The {product} shows {count} duplicate entries after the last sync.",
        "Can I change the billing email before the {amount} renewal on {day}?",
        "Search results in the {product} are empty for anything typed after {time}.",
    ],
    "de": [
        "Die {product} stürzt bei jedem Start unter {version} ab.",
        "Seit {time} ist die Produktion down und die {product} meldet Fehler.",
        "Mir wurden für Bestellung {order} zweimal {amount} abgebucht, bitte eine Zahlung erstatten.",
        "Bestellung {order} ist in {city} immer noch nicht angekommen, fällig war sie am {day}.",
        "Ich heiße {name} und kann mich nach dem Zurücksetzen des Passworts nicht mehr anmelden.",
        "Können Sie die Lieferung von Bestellung {order} auf {day} nach {time} verschieben?",
        "Die Rechnung über {amount} enthält die falsche Firmenadresse in {city}.",
        "Nach dem Update auf {version} sendet die {product} keine Benachrichtigungen mehr.",
        "Bitte kündigen Sie mein Abo, am {day} wurden ohne Ankündigung {amount} abgebucht.",
        "Wie exportiere ich {count} Berichte aus der {product} als CSV-Datei?",
    ],
    "fr": [
        "L'application {product} plante à chaque ouverture sous {version}.",
        "Depuis {time}, la production est en panne et le {product} renvoie des erreurs.",
        "On m'a débité {amount} deux fois pour la commande {order}, merci de rembourser un paiement.",
        "La commande {order} n'est toujours pas arrivée à {city}, elle était prévue le {day}.",
        "Je m'appelle {name} et je ne peux plus me connecter après la réinitialisation du mot de passe.",
        "Pouvez-vous décaler la livraison de la commande {order} au {day} après {time} ?",
        "La facture de {amount} indique une mauvaise adresse de société à {city}.",
        "Depuis la mise à jour vers {version}, le {product} n'envoie plus de notifications.",
        "Merci d'annuler mon abonnement, {amount} ont été prélevés le {day} sans prévenir.",
        "Comment exporter {count} rapports du {product} en fichier CSV ?",
    ],
    "es": [
        "La aplicación {product} se cierra cada vez que la abro en {version}.",
        "Desde las {time} la producción está caída y el {product} devuelve errores.",
        "Me cobraron {amount} dos veces por el pedido {order}, por favor devuelvan uno.",
        "El pedido {order} todavía no ha llegado a {city}, debía llegar el {day}.",
        "Me llamo {name} y no puedo entrar después de restablecer la contraseña.",
        "¿Pueden cambiar la entrega del pedido {order} al {day} después de las {time}?",
        "La factura de {amount} tiene la dirección de la empresa equivocada en {city}.",
        "Después de actualizar a {version} el {product} ya no envía notificaciones.",
        "Cancelen mi suscripción, me cobraron {amount} el {day} sin avisar.",
        "¿Cómo exporto {count} informes del {product} como archivo CSV?",
    ],
    "zh": [
        "我的订单{order}还没有送到{city}，原定{day}送达。",
        "订单{order}被重复扣款{amount}，请退还其中一笔。",
        "从{time}开始{product}一直报错，生产环境无法使用。",
        "{name}在重置密码以后无法登录{product}。",
        "请把订单{order}的配送改到{day}{time}以后。",
        "发票金额{amount}上的公司地址写错了，应该是{city}。",
        "升级到{version}以后{product}不再发送通知。",
        "请取消我的订阅，{day}在没有通知的情况下扣了{amount}。",
    ],
}
# reworded English templates, the same slots in other words: paraphrase pairs for the semantic gate
PARAPHRASES = {
    "The {product} crashes every time I open it on {version}.":
        "Each launch of {product} on {version} ends in a crash.",
    "Since {time} UTC, production is down and the {product} returns errors.":
        "Our live system has been failing from {time} UTC on; {product} keeps throwing errors.",
    "{product} charts show yesterday's data only, nothing from {day}.":
        "Nothing from {day} appears in the {product} graphs, they stop at the previous day.",
    "I was charged {amount} twice for order {order}, please refund one of them.":
        "You billed me {amount} two times on order {order}; kindly give back the duplicate payment.",
    "Order {order} still hasn't arrived in {city}, it was due on {day}.":
        "The parcel for {order} was expected in {city} on {day} and is still missing.",
    "My name is {name} and I can't log in to the {product} after the password reset.":
        "{name} here: since resetting my password, signing into {product} fails.",
    "Can you move my delivery for order {order} to {day} after {time}?":
        "Is it possible to reschedule shipment {order} for {day}, later than {time}?",
    "We need {count} more seats on the team plan before {day}.":
        "By {day} our team subscription must grow by {count} licences.",
    "The invoice for {amount} lists the wrong company address in {city}.":
        "On the {amount} bill our business location in {city} is incorrect.",
    "After updating to {version} the {product} no longer sends notifications.":
        "Since the {version} upgrade, alerts from {product} have stopped coming.",
    "Please cancel my subscription, I was billed {amount} on {day} without notice.":
        "End my plan, please: {amount} was taken on {day} and nobody warned me.",
    "How do I export {count} reports from the {product} as a CSV file?":
        "What is the way to download {count} {product} reports in CSV format?",
    "The courier left order {order} at the wrong door in {city} on {day}.":
        "On {day} the delivery driver dropped {order} off at someone else's entrance in {city}.",
    "{name} from our {city} office cannot reset the two-factor code.":
        "A colleague in {city}, {name}, is unable to renew their 2FA token.",
    "Is there a discount if we pay {amount} for a whole year upfront?":
        "Do you offer a lower price when {amount} is paid annually in advance?",
    "The {product} has been loading for minutes since {time} today.":
        "From {time} this morning {product} just spins and never finishes opening.",
    "Refund order {order} please, the item arrived broken on {day}.":
        "I want my money back for {order}: it came damaged on {day}.",
    "Why does the {product} log me out every few minutes on {version}?":
        "On {version}, {product} keeps ending my session constantly; what causes that?",
    "Our card was declined for {amount} although the bank shows enough funds.":
        "The {amount} payment got rejected even though our account has sufficient money.",
    "Add {name} as an admin to the workspace and remove the old owner.":
        "Give {name} administrator rights in our space and take the previous owner off.",
    "Tracking for order {order} has not updated since {day} in {city}.":
        "The shipment status of {order} is stuck in {city} with no change after {day}.",
    "The {product} shows {count} duplicate entries after the last sync.":
        "Following the recent synchronisation, {product} lists {count} records twice.",
    "Can I change the billing email before the {amount} renewal on {day}?":
        "Is updating the invoice mail address possible ahead of the {day} charge of {amount}?",
    "Search results in the {product} are empty for anything typed after {time}.":
        "Queries entered later than {time} return nothing in {product}.",
}


def paraphrase_pairs(seed: int, per_template: int = 10, *,
                     other_requests: bool = True) -> list[tuple[str, str, bool]]:
    """(text, other text, same meaning?) for the semantic gate: each English template filled once, paired with
    its rewording (same facts, few shared words) and with the same template filled with other facts; with
    ``other_requests``, also with another template (another request) filled with the same facts wherever the two
    share a slot, fresh ones elsewhere: the same customer or product asking something else, which shares facts
    and topic but is not a copy. Its generator is separate, so the other pairs stay as they were without it."""
    rng, other_rng = random.Random(seed), random.Random(f"other-requests-{seed}")
    slots = _slots_for("en")
    templates = list(PARAPHRASES)
    pairs = []
    for template, reworded in PARAPHRASES.items():
        for _ in range(per_template):
            text, chosen = _fill(rng, template, slots)
            pairs.append((text, reworded.format(**chosen), True))
            pairs.append((text, _fill(rng, template, slots, avoid=chosen)[0], False))
            if other_requests:
                other = other_rng.choice([t for t in templates if t != template])
                fresh = _fill(other_rng, other, slots)[1]
                pairs.append((text, other.format(**{**fresh, **{k: v for k, v in chosen.items() if k in fresh}}),
                              False))
    return pairs


SYNONYMS = {
    "en": {"crashes": "fails", "open": "launch", "charged": "billed", "refund": "reimburse", "arrived": "come",
           "please": "kindly", "cancel": "end", "broken": "damaged", "wrong": "incorrect", "move": "reschedule",
           "need": "require", "empty": "blank", "minutes": "ages", "errors": "failures", "remove": "delete",
           "change": "update", "shows": "displays", "log": "sign", "declined": "rejected", "export": "download"},
    "de": {"stürzt": "crasht", "Fehler": "Störungen", "bitte": "bitte gern", "angekommen": "eingetroffen",
           "verschieben": "verlegen", "falsche": "fehlerhafte", "Benachrichtigungen": "Mitteilungen",
           "kündigen": "beenden", "Berichte": "Reports", "Rechnung": "Faktura"},
    "fr": {"plante": "crashe", "erreurs": "pannes", "merci": "svp", "arrivée": "livrée", "décaler": "reporter",
           "mauvaise": "fausse", "notifications": "alertes", "annuler": "résilier", "rapports": "bilans",
           "facture": "note"},
    "es": {"cierra": "cuelga", "errores": "fallos", "cobraron": "cargaron", "llegado": "arribado",
           "cambiar": "mover", "equivocada": "incorrecta", "notificaciones": "avisos", "cancelen": "anulen",
           "informes": "reportes", "factura": "cuenta"},
    "zh": {"还没有": "仍未", "报错": "出错", "无法": "不能", "请": "麻烦", "写错了": "有误", "不再": "不会再",
           "取消": "停止", "以后": "之后"},
}
FILLERS = {"en": ["really", "just", "also", "still", "again", "now"], "de": ["wirklich", "auch", "noch", "jetzt"],
           "fr": ["vraiment", "aussi", "encore", "maintenant"], "es": ["realmente", "también", "todavía", "ahora"],
           "zh": ["真的", "也", "还", "现在"]}
EXTRA = {"en": ["Thanks in advance.", "Any help is appreciated.", "This is urgent for us.", "Kind regards."],
         "de": ["Danke im Voraus.", "Das ist dringend.", "Viele Grüße."],
         "fr": ["Merci d'avance.", "C'est urgent.", "Cordialement."],
         "es": ["Gracias de antemano.", "Es urgente.", "Saludos."], "zh": ["谢谢。", "很急。", "麻烦尽快处理。"]}


@dataclass
class Case:
    """One row of the corpus and what the gates should do with it."""

    text: str
    label: tuple[str, str]
    lang: str
    length: str  # short / medium / long, from the original's word count
    kind: str  # original, near_dup, label_conflict, eval_leak, hard_negative, eval
    family: str = ""  # the edit family of a planted near copy
    group: int = -1  # originals and their copies share a group; hard negatives get a group of their own
    partner: int = -1  # index (in its own list) of the row a planted copy was made from
    slots: dict = field(default_factory=dict)
    parts: list = field(default_factory=list)  # the (template, slot values) the text was rendered from


def length_bucket(text: str, lang: str) -> str:
    n = len(text) // 2 if lang == "zh" else len(text.split())  # about two characters per Chinese word
    return "short" if n <= 20 else "medium" if n <= 50 else "long"


def _fresh_number(rng: random.Random, value: str) -> str:
    """The same shape of number with other digits (so that rows rarely share a fact by chance)."""
    out = "".join(rng.choice("123456789") if ch.isdigit() and k == 0 else rng.choice("0123456789") if ch.isdigit()
                  else ch for k, ch in enumerate(value))
    return out if out != value else _fresh_number(rng, value)


def _fill(rng: random.Random, template: str, slots: dict, avoid: dict | None = None) -> tuple[str, dict]:
    chosen = {}
    for key in re.findall(r"{(\w+)}", template):
        if key in chosen:
            continue
        options = [v for v in slots[key] if not avoid or v != avoid.get(key)]
        value = rng.choice(options)
        if key in ("order", "amount", "count"):  # numbers: drawn fresh, keeping the format of the listed value
            value = _fresh_number(rng, value)
        chosen[key] = value
    return template.format(**chosen), chosen


_EXPANDED: dict = {}


def _slots_for(lang: str) -> dict:
    if lang not in _EXPANDED:
        _EXPANDED[lang] = _expand({"en": SLOTS, "de": SLOTS_DE, "fr": SLOTS_FR, "es": SLOTS_ES, "zh": SLOTS_ZH}[lang], lang)
    return _EXPANDED[lang]


def _words(text: str, lang: str) -> list[str]:
    return list(text) if lang == "zh" else text.split(" ")


def _join(words: list[str], lang: str) -> str:
    return "".join(words) if lang == "zh" else " ".join(words)


def edit(rng: random.Random, text: str, lang: str, family: str, slot_values: list[str]) -> str:
    """Apply one edit of ``family`` to ``text``; slot values (the facts) are left alone except by ``numbers``."""
    if family == "two_edits":
        first, second = rng.sample(["insert", "delete", "swap", "synonym", "punctuation"], 2)
        return edit(rng, edit(rng, text, lang, first, slot_values), lang, second, slot_values)
    protected = set()
    for v in slot_values:
        for w in _words(v, lang):
            protected.add(w.strip(".,!?"))
    words = _words(text, lang)
    free = [k for k, w in enumerate(words) if w.strip(".,!?;:¿¡，。？！") not in protected and w.strip()]
    if family == "punctuation":
        if lang == "zh":
            out = text.replace("，", rng.choice(["、", " ", ","])).replace("。", rng.choice(["！", "", "."]))
            return out if out != text else text + "！"
        out = re.sub(r"[.?]$", rng.choice(["!", "", "!!", " :("]), text)
        out = out.replace(", ", rng.choice([" - ", " ", "; "]), 1)
        return out if out != text else text + "!"
    if family == "spacing":
        if lang == "zh":  # a space between two characters that are not both digits (that would split a number)
            spots = [k for k in range(1, len(text)) if not (text[k - 1].isdigit() and text[k].isdigit())]
            k = rng.choice(spots)
            return text[:k] + " " + text[k:]
        out = re.sub(r"(\d) ?(am|pm)\b", lambda m: m.group(1) + ("" if " " in m.group(0) else " ") + m.group(2), text)
        out = out.replace(", ", " ,", 1) if out == text else out
        return out if out != text else text.replace(" ", "  ", 2)
    if family == "casing":
        if lang == "zh":  # no case in Chinese: change the case of Latin letters in it, or upper-case a slot
            out = text.upper()
            return out if out != text else text.replace("订单", "订单 ")
        return rng.choice([text.lower(), text.upper(), " ".join(w.capitalize() for w in text.split(" "))])
    if family == "insert":
        k = rng.randrange(len(words) + 1)
        return _join(words[:k] + [rng.choice(FILLERS[lang])] + words[k:], lang)
    if family == "delete":
        k = rng.choice(free)
        return _join(words[:k] + words[k + 1:], lang)
    if family == "swap":
        pairs = [k for k in free if k + 1 in free]
        if not pairs:
            return edit(rng, text, lang, "insert", slot_values)
        k = rng.choice(pairs)
        words[k], words[k + 1] = words[k + 1], words[k]
        return _join(words, lang)
    if family == "synonym":
        options = [(a, b) for a, b in SYNONYMS[lang].items() if a in text]
        if not options:
            return edit(rng, text, lang, "insert", slot_values)
        a, b = rng.choice(options)
        return text.replace(a, b, 1)
    if family == "numbers":
        rules = [(r"(\d),(\d{3})", r"\1\2"), (r"(\d)\.(\d{3})(?!\d)", r"\1\2"), (r"(\d)\.(\d\d)\b", r"\1,\2"),
                 (r"(\d),(\d\d)\b", r"\1.\2"), (r"(\d)(am|pm)\b", r"\1 \2"), (r"(\d)(\d{3})(?!\d)", r"\1,\2"),
                 (r"(\d+):00", r"\1"), (r"#(\d)", r"no. \1")]
        rng.shuffle(rules)
        for pat, rep in rules:
            out = re.sub(pat, rep, text, count=1)
            if out != text:
                return out
        return edit(rng, text, lang, "punctuation", slot_values)
    if family == "sentence_added":
        extra = rng.choice(EXTRA[lang])
        return (text + extra) if lang == "zh" else rng.choice([text + " " + extra, extra + " " + text])
    raise ValueError(family)


def _original(rng: random.Random, lang: str, length: str) -> tuple[str, list[tuple[str, dict]]]:
    """A text and the (template, slots) it was made of."""
    slots = _slots_for(lang)
    n_parts = {"short": 1, "medium": rng.randint(2, 3), "long": rng.randint(5, 7)}[length]
    if lang == "zh":
        n_parts = {"short": 1, "medium": rng.randint(3, 4), "long": rng.randint(7, 8)}[length]
    n_parts = min(n_parts, len(TEMPLATES[lang]))
    parts = []
    for template in rng.sample(TEMPLATES[lang], n_parts):
        parts.append((template, _fill(rng, template, slots)[1]))
    return _render(parts, lang), parts


def _render(parts: list[tuple[str, dict]], lang: str) -> str:
    sep = "" if lang == "zh" else " "
    return sep.join(t.format(**s) for t, s in parts)


def _hard_negative(rng: random.Random, parts: list[tuple[str, dict]], lang: str) -> tuple[str, list]:
    """The same templates in the same order, every slot filled with another value (and those parts)."""
    slots = _slots_for(lang)
    new = [(t, _fill(rng, t, slots, avoid=s)[1]) for t, s in parts]
    return _render(new, lang), new


def _same_name_negative(rng: random.Random, parts: list[tuple[str, dict]], lang: str) -> tuple[str, list] | None:
    """The same templates with the same person named and every other slot filled with another value; None when
    the text names nobody or states nothing else."""
    if not any("name" in s for _, s in parts) or all(set(s) <= {"name"} for _, s in parts):
        return None
    slots = _slots_for(lang)
    new = []
    for t, s in parts:
        _, chosen = _fill(rng, t, slots, avoid=s)
        if "name" in s:
            chosen["name"] = s["name"]
        new.append((t, chosen))
    return _render(new, lang), new


def build(seed: int = 0, per_cell: int = 6, languages: tuple[str, ...] = ("en", "de", "fr", "es", "zh"),
          lengths: tuple[str, ...] = ("short", "medium", "long"),
          name_negatives: bool = True) -> tuple[list[Case], list[Case]]:
    """(training rows, eval rows). For every language, length and family: ``per_cell`` near copies of training
    originals, ``per_cell // 2`` relabelled copies (label conflicts) and ``per_cell // 2`` edited eval rows
    (leaks); plus one hard negative per original and per eval row, and unrelated originals as filler.

    ``name_negatives``: also, per original or eval row that names a person and states other facts, a
    ``same_name_negative`` (the same person, every other fact changed), drawn from a generator of its own so
    that the other rows are the ones ``name_negatives=False`` (the corpus before these were added) makes, in
    another order."""
    rng = random.Random(seed)
    name_rng = random.Random(f"same-name-{seed}")
    train: list[Case] = []
    evals: list[Case] = []
    group = 0
    for lang in languages:
        for length in lengths:
            for family in FAMILIES:
                for kind, count in (("near_dup", per_cell), ("label_conflict", max(1, per_cell // 2)),
                                    ("eval_leak", max(1, per_cell // 2))):
                    for _ in range(count):
                        text, parts = _original(rng, lang, length)
                        facts = [str(v) for _, s in parts for v in s.values()]
                        label = rng.choice(LABELS)
                        bucket = length_bucket(text, lang)
                        copy = edit(rng, text, lang, family, facts)
                        if kind == "eval_leak":
                            evals.append(Case(text, label, lang, bucket, "eval", group=group, parts=parts))
                            train.append(Case(copy, label, lang, bucket, kind, family, group, len(evals) - 1,
                                              parts=parts))
                        else:
                            train.append(Case(text, label, lang, bucket, "original", group=group, parts=parts))
                            new_label = label if kind == "near_dup" else rng.choice([x for x in LABELS if x != label])
                            train.append(Case(copy, new_label, lang, bucket, kind, family, group, len(train) - 1,
                                              parts=parts))
                        group += 1
                        other = rng.choice([x for x in LABELS if x != label])
                        # one changed fact in a one-template text reads like a one-word edit: reported apart
                        n_facts = sum(len(s) for _, s in parts)
                        neg_kind = "hard_negative" if n_facts >= 2 else "one_fact_negative"
                        neg_text, neg_parts = _hard_negative(rng, parts, lang)
                        train.append(Case(neg_text, other, lang, bucket, neg_kind, family, group, parts=neg_parts))
                        group += 1
                        same = _same_name_negative(name_rng, parts, lang) if name_negatives else None
                        if same is not None:
                            label_2 = name_rng.choice([x for x in LABELS if x != label])
                            train.append(Case(same[0], label_2, lang, bucket, "same_name_negative", family, group,
                                              parts=same[1]))
                            group += 1
    rng.shuffle(train)  # copies may come before or after their originals; fix partner indices after the shuffle
    return _reindex(train), evals


def _reindex(train: list[Case]) -> list[Case]:
    """After shuffling: partners of near copies point to the original's new index (found by group)."""
    first_original = {c.group: k for k, c in enumerate(train) if c.kind == "original"}
    for c in train:
        if c.kind in ("near_dup", "label_conflict"):
            c.partner = first_original[c.group]
    return train


def row_json(case: Case, i: int) -> str:
    return json.dumps({"id": f"r{i}", "messages": [
        {"role": "user", "content": case.text},
        {"role": "assistant", "content": json.dumps({"category": case.label[0], "priority": case.label[1]},
                                                    separators=(",", ":"))}],
        "meta": {"category": case.label[0], "difficulty": "medium", "lang": case.lang, "length": case.length,
                 "kind": case.kind, "family": case.family, "group": case.group}}, ensure_ascii=False)
