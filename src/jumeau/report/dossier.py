"""The privacy dossier: one page a data-protection officer reads and signs, in English and French.

Rendering only: every number and every pass/fail comes from `jumeau.evaluation` (the report's
verdicts). The page groups the evidence by what the GDPR's anonymisation test asks — the three
criteria of the Article 29 Working Party (singling out, linkability, inference), membership, the
distance to real records, near-copies — and shows each measure beside the same measure on real
patients the generator never saw (the ceiling) and beside its threshold with its source. It never
shows a real patient's value.
"""

from __future__ import annotations

import html
import math
from typing import Any

from jumeau.evaluation.evaluate import Evaluation, Verdict
from jumeau.report.french import to_french
from jumeau.report.style import STYLE

SOURCES = {
    "wp29": "Article 29 Working Party, Opinion 05/2014 on anonymisation techniques (WP216)",
    "anonymeter": "anonymeter (Giomi et al., PoPETs 2023), assessed by the CNIL in 2023",
    "ema": "EMA, External guidance on the implementation of Policy 0070 (2018): 0.09",
    "domias": "DOMIAS (van Breugel et al., AISTATS 2023); Stadler et al. (USENIX Security 2022)",
    "dp": "Differential privacy: Dwork & Roth (2014); zero-concentrated DP, Bun & Steinke (TCC "
    "2016); mechanisms and accounting by OpenDP",
}

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Privacy dossier",
        "intro": "{n_art} artificial patients generated from {n_train} training patients; "
        "{n_hold} real patients the generator never saw serve as the ceiling. Seed {seed}.",
        "pooled": "The privacy measures are pooled over {splits} refits of the generator on "
        "seeded splits of the cohort (Rubin's rules: the interval carries the spread between "
        "splits), so that no verdict rests on one split of a small cohort.",
        "criterion": "criterion",
        "measure": "measured on the artificial cohort",
        "threshold": "passes when",
        "verdict": "verdict",
        "pass": "passes",
        "fail": "fails",
        "info": "for information",
        "all_pass": "Every privacy check passes: the attacks below did no better on the "
        "training patients than on real patients the generator never saw.",
        "some_fail": "{count} privacy check(s) fail: do not share this cohort before the "
        "lines marked as failing are understood.",
        "file_personal": "The model file holds personal data ({what}): keep it where the real "
        "data are kept.",
        "file_shareable": "The model file holds no value of fewer than 10 training patients and "
        "no training code (personal_data: false).",
        "file_unknown": "Model file: not written by this run.",
        "dp": "Differential privacy: the generator was fitted under (ε = {epsilon}, δ = "
        "{delta})-differential privacy. Whatever an attacker knows, the model file and every "
        "cohort drawn from it change the odds that any one patient took part in training by at "
        "most a factor e^ε = {factor}, except with probability δ. The guarantee covers the model "
        "and the artificial cohort, not the measurements below, which compare them with the real "
        "patients.",
        "no_dp": "Differential privacy: not used (no --epsilon); the evidence below is empirical.",
        "sources": "Sources",
        "singling out": "Singling out (WP29)",
        "linkability": "Linkability (WP29)",
        "inference": "Inference (WP29)",
        "membership inference (domias)": "Membership inference, density attack",
        "membership inference (distance)": "Membership inference, distance attack",
        "memorisation": "Distance to closest record and exact copies",
        "near-copy signal": "Near-copies (detection test)",
        "similarity filter": "Similarity filter",
        "small groups of quasi-identifiers": "k-anonymity of the quasi-identifiers (k = 5)",
    },
    "fr": {
        "title": "Dossier de confidentialité",
        "intro": "{n_art} patients artificiels générés à partir de {n_train} patients "
        "d'apprentissage ; {n_hold} patients réels que le générateur n'a jamais vus servent de "
        "plafond. Graine {seed}.",
        "pooled": "Les mesures de confidentialité sont regroupées sur {splits} ajustements du "
        "générateur sur des partitions aléatoires de la cohorte (règles de Rubin : l'intervalle "
        "inclut l'écart entre partitions), afin qu'aucun verdict ne dépende d'une seule "
        "partition d'une petite cohorte.",
        "criterion": "critère",
        "measure": "mesure sur la cohorte artificielle",
        "threshold": "satisfait si",
        "verdict": "verdict",
        "pass": "satisfait",
        "fail": "non satisfait",
        "info": "pour information",
        "all_pass": "Tous les contrôles de confidentialité sont satisfaits : les attaques "
        "ci-dessous ne réussissent pas mieux sur les patients d'apprentissage que sur des "
        "patients réels jamais vus par le générateur.",
        "some_fail": "{count} contrôle(s) de confidentialité non satisfait(s) : ne partagez pas "
        "cette cohorte avant d'avoir compris les lignes signalées.",
        "file_personal": "Le fichier du modèle contient des données personnelles ({what}) : "
        "conservez-le là où sont conservées les données réelles.",
        "file_shareable": "Le fichier du modèle ne contient aucune valeur de moins de 10 "
        "patients d'apprentissage ni aucun code de patient (personal_data: false).",
        "file_unknown": "Fichier du modèle : non écrit par cette exécution.",
        "dp": "Confidentialité différentielle : le générateur a été ajusté sous (ε = {epsilon}, "
        "δ = {delta})-confidentialité différentielle. Quoi que sache un attaquant, le fichier du "
        "modèle et toute cohorte qui en est tirée modifient au plus d'un facteur e^ε = {factor} "
        "la cote de la participation d'un patient à l'apprentissage, sauf avec une probabilité "
        "δ. La garantie couvre le modèle et la cohorte artificielle, pas les mesures ci-dessous, "
        "qui les comparent aux patients réels.",
        "no_dp": "Confidentialité différentielle : non utilisée (pas de --epsilon) ; les preuves "
        "ci-dessous sont empiriques.",
        "sources": "Sources",
        "singling out": "Individualisation (G29)",
        "linkability": "Corrélation (G29)",
        "inference": "Inférence (G29)",
        "membership inference (domias)": "Inférence d'appartenance, attaque par densité",
        "membership inference (distance)": "Inférence d'appartenance, attaque par distance",
        "memorisation": "Distance au plus proche patient réel et copies exactes",
        "near-copy signal": "Quasi-copies (test de détection)",
        "similarity filter": "Filtre de similarité",
        "small groups of quasi-identifiers": "k-anonymat des quasi-identifiants (k = 5)",
    },
}
# The thresholds as the French section shows them (the English ones are the verdicts' own)
FRENCH_THRESHOLDS = {
    "singling out": "≤ 0,09 (seuil de réidentification de la politique 0070 de l'EMA), ou pas "
    "au-delà du hasard de l'échantillon réel",
    "membership inference": "≤ 0,55, ou pas au-delà du hasard de l'échantillon réel",
    "memorisation": "part DCR ≤ 55 %, ou pas significativement au-dessus de celle des marges "
    "indépendantes (test unilatéral à 5 %) ; aucune copie exacte",
    "near-copy signal": "l'intervalle à 95 % atteint 0,5",
    "similarity filter": "pas plus de retraits que parmi les patients réels extérieurs (test "
    "exact de Fisher unilatéral, 5 %)",
    "small groups of quasi-identifiers": "pour information",
}
FRENCH_THRESHOLDS["linkability"] = FRENCH_THRESHOLDS["inference"] = FRENCH_THRESHOLDS[
    "singling out"
]


def privacy_lines(result: Evaluation) -> list[Verdict]:
    """The report's verdicts that concern privacy, in the dossier's order."""
    by_topic = {v.topic: v for v in result.verdicts}
    order = [
        "singling out",
        "linkability",
        "inference",
        "membership inference (domias)",
        "membership inference (distance)",
        "memorisation",
        "near-copy signal",
        "similarity filter",
        "small groups of quasi-identifiers",
    ]
    return [by_topic[t] for t in order if t in by_topic]


def render_dossier(result: Evaluation, meta: dict[str, Any]) -> str:
    """The dossier as one self-contained HTML page, English then French."""
    lines = privacy_lines(result)
    failing = [v for v in lines if v.ok is False]
    held = meta.get("model_file_personal_data_held")
    privacy = meta.get("differential_privacy")
    sections = "".join(
        _section(lang, result, lines, failing, held, privacy) for lang in ("en", "fr")
    )
    sources = "".join(f"<li>{html.escape(s)}</li>" for s in SOURCES.values())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Privacy dossier</title>
<style>{STYLE}</style></head><body>
<p class="muted"><a href="#en">English</a> · <a href="#fr">Français</a> ·
jumeau {html.escape(str(meta.get("versions", {}).get("jumeau", "")))}
· {html.escape(str(meta.get("created", "")))}</p>
{sections}
<h2>Sources</h2><ul>{sources}</ul>
</body></html>
"""


def _section(
    lang: str,
    result: Evaluation,
    lines: list[Verdict],
    failing: list[Verdict],
    held: list[str] | None,
    privacy: dict[str, Any] | None = None,
) -> str:
    t = TEXT[lang]
    intro = t["intro"].format(
        n_art=result.n_artificial, n_train=result.n_train, n_hold=result.n_holdout, seed=result.seed
    )
    if result.privacy_splits > 1:
        intro += " " + t["pooled"].format(splits=result.privacy_splits)
    overall = t["all_pass"] if not failing else t["some_fail"].format(count=len(failing))
    state = "ok" if not failing else "bad"
    if held is None:
        model_file = t["file_unknown"]
    elif held:
        model_file = t["file_personal"].format(what="; ".join(held))
    else:
        model_file = t["file_shareable"]
    rows = "".join(
        f"<tr><td>{html.escape(t.get(v.topic, v.topic))}</td>"
        f"<td>{html.escape(_value(v, lang))}</td>"
        f"<td>{html.escape(_threshold(v, lang))}</td><td>{_mark(v.ok, t)}</td></tr>"
        for v in lines
    )
    return f"""<section id="{lang}" lang="{lang}">
<h1>{html.escape(t["title"])}</h1>
<p>{html.escape(intro)}</p>
<p class="{state}">{html.escape(overall)}</p>
<p>{html.escape(model_file)}</p>
<p>{html.escape(privacy_sentence(privacy, lang))}</p>
<table><tr><th>{t["criterion"]}</th><th>{t["measure"]}</th><th>{t["threshold"]}</th>
<th>{t["verdict"]}</th></tr>{rows}</table>
</section>"""


def privacy_sentence(privacy: dict[str, Any] | None, lang: str = "en") -> str:
    """What a DP fit's (ε, δ) means, in plain words (or that none was used)."""
    t = TEXT[lang]
    if not privacy:
        return t["no_dp"]
    epsilon, delta = float(privacy["epsilon"]), float(privacy["delta"])
    text = t["dp"].format(
        epsilon=f"{epsilon:g}", delta=f"{delta:.1e}", factor=f"{math.exp(epsilon):.3g}"
    )
    return to_french(text) if lang == "fr" else text


def _value(verdict: Verdict, lang: str) -> str:
    return to_french(verdict.value) if lang == "fr" else verdict.value


def _threshold(verdict: Verdict, lang: str) -> str:
    if lang != "fr":
        return verdict.threshold
    topic = verdict.topic.split(" (")[0]
    return FRENCH_THRESHOLDS.get(topic, verdict.threshold)


def _mark(ok: bool | None, t: dict[str, str]) -> str:
    if ok is None:
        return f"<span class='na'>{html.escape(t['info'])}</span>"
    return (
        f"<span class='ok'>✓ {t['pass']}</span>"
        if ok
        else f"<span class='bad'>✗ {t['fail']}</span>"
    )
