"""A use case's risk class under the AI Act, derived from yes/no answers, with the rationale.

The questions follow the regulation: Art. 5(1)(a)-(h) (prohibited practices), Annex III
points 1-8 (high-risk areas) and Art. 50(1)-(4) (transparency). The class is the strictest one
any answer gives; transparency obligations are listed even for a high-risk use case, since
they apply on top. Answering is the provider's; a compliance officer confirms or overrides the
derived class with a reason (services.compliance), because Art. 6(3) lets an Annex III system
be not high-risk when it poses no significant risk, which no questionnaire can decide."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class RiskClass(StrEnum):
    PROHIBITED = "prohibited"
    HIGH_RISK = "high-risk"
    TRANSPARENCY = "transparency"
    MINIMAL = "minimal"

    @property
    def rank(self) -> int:
        """Strictest first: the class of a use case is its answers' lowest rank."""
        return list(RiskClass).index(self)


@dataclass(frozen=True)
class Question:
    id: str
    article: str
    text: str
    gives: RiskClass  # what a yes means
    area: str = ""  # Annex III's area, or the Art. 50 obligation, said in a word or two


def _q(id: str, article: str, gives: RiskClass, area: str, text: str) -> Question:
    return Question(id, article, text, gives, area)


P, H, T = RiskClass.PROHIBITED, RiskClass.HIGH_RISK, RiskClass.TRANSPARENCY

PROHIBITED_PRACTICES: tuple[Question, ...] = (
    _q(
        "art5_a",
        "Art. 5(1)(a)",
        P,
        "manipulation",
        "Does it use subliminal, manipulative or deceptive techniques that distort people's "
        "behaviour and cause them significant harm?",
    ),
    _q(
        "art5_b",
        "Art. 5(1)(b)",
        P,
        "exploiting vulnerabilities",
        "Does it exploit vulnerabilities due to age, disability or a social or economic "
        "situation to distort behaviour and cause significant harm?",
    ),
    _q(
        "art5_c",
        "Art. 5(1)(c)",
        P,
        "social scoring",
        "Does it score people on their social behaviour or personal traits, leading to "
        "detrimental or unfavourable treatment (social scoring)?",
    ),
    _q(
        "art5_d",
        "Art. 5(1)(d)",
        P,
        "crime prediction by profiling",
        "Does it predict that a person will commit a crime from profiling or personality "
        "traits alone?",
    ),
    _q(
        "art5_e",
        "Art. 5(1)(e)",
        P,
        "facial-image scraping",
        "Does it build or expand face-recognition databases by untargeted scraping of facial "
        "images from the internet or CCTV?",
    ),
    _q(
        "art5_f",
        "Art. 5(1)(f)",
        P,
        "emotion recognition at work or school",
        "Does it infer emotions of people at the workplace or in education (other than for "
        "medical or safety reasons)?",
    ),
    _q(
        "art5_g",
        "Art. 5(1)(g)",
        P,
        "sensitive biometric categorisation",
        "Does it categorise people by biometric data to infer race, political opinions, trade "
        "union membership, religion, sex life or sexual orientation?",
    ),
    _q(
        "art5_h",
        "Art. 5(1)(h)",
        P,
        "real-time remote biometric identification",
        "Is it real-time remote biometric identification in publicly accessible spaces for "
        "law enforcement?",
    ),
)

HIGH_RISK_AREAS: tuple[Question, ...] = (
    _q(
        "annex3_1",
        "Annex III(1)",
        H,
        "biometrics",
        "Biometrics: remote biometric identification, biometric categorisation or emotion "
        "recognition (where not prohibited)?",
    ),
    _q(
        "annex3_2",
        "Annex III(2)",
        H,
        "critical infrastructure",
        "A safety component in managing or operating critical digital infrastructure, road "
        "traffic, or the supply of water, gas, heating or electricity?",
    ),
    _q(
        "annex3_3",
        "Annex III(3)",
        H,
        "education and vocational training",
        "Education and vocational training: admission, assessing learning outcomes, or "
        "monitoring students in tests?",
    ),
    _q(
        "annex3_4",
        "Annex III(4)",
        H,
        "employment and worker management",
        "Employment: recruiting or selecting people, deciding on promotion or termination, "
        "allocating tasks, or monitoring workers?",
    ),
    _q(
        "annex3_5",
        "Annex III(5)",
        H,
        "access to essential services",
        "Access to essential private and public services: public benefits, credit scoring, "
        "life and health insurance pricing, or emergency call triage?",
    ),
    _q(
        "annex3_6",
        "Annex III(6)",
        H,
        "law enforcement",
        "Law enforcement: assessing risks of victims or offenders, polygraphs, evaluating "
        "evidence, or profiling in investigations?",
    ),
    _q(
        "annex3_7",
        "Annex III(7)",
        H,
        "migration, asylum and border control",
        "Migration, asylum and border control: risk assessments, examining applications, or "
        "detecting and identifying people?",
    ),
    _q(
        "annex3_8",
        "Annex III(8)",
        H,
        "justice and democratic processes",
        "Administration of justice and democratic processes: assisting judicial decisions, or "
        "influencing elections or voting behaviour?",
    ),
)

TRANSPARENCY_QUESTIONS: tuple[Question, ...] = (
    _q(
        "art50_1",
        "Art. 50(1)",
        T,
        "tell people they interact with an AI system",
        "Does it interact directly with people (a chatbot, a voice assistant)?",
    ),
    _q(
        "art50_2",
        "Art. 50(2)",
        T,
        "mark synthetic content as machine-readable",
        "Does it generate synthetic audio, images, video or text?",
    ),
    _q(
        "art50_3",
        "Art. 50(3)",
        T,
        "disclose emotion recognition or biometric categorisation",
        "Is it deployed for emotion recognition or biometric categorisation?",
    ),
    _q(
        "art50_4",
        "Art. 50(4)",
        T,
        "label deep fakes",
        "Does it produce deep fakes, or text published to inform the public on matters of "
        "public interest?",
    ),
)

QUESTIONS: tuple[Question, ...] = PROHIBITED_PRACTICES + HIGH_RISK_AREAS + TRANSPARENCY_QUESTIONS
BY_ID: Mapping[str, Question] = {q.id: q for q in QUESTIONS}


@dataclass(frozen=True)
class Finding:
    question: Question
    answer: bool

    @property
    def says(self) -> str:
        """One line of the rationale: the answer and what it gives."""
        q = self.question
        if not self.answer:
            return f"{q.article}: no"
        if q.gives is RiskClass.PROHIBITED:
            return f"{q.article}: yes, a prohibited practice ({q.area})"
        if q.gives is RiskClass.HIGH_RISK:
            return f"{q.article}: yes, a high-risk area ({q.area})"
        return f"{q.article}: yes, a transparency obligation ({q.area})"


@dataclass(frozen=True)
class Assessment:
    risk_class: RiskClass
    areas: tuple[str, ...]  # Annex III areas answered yes
    practices: tuple[str, ...]  # Art. 5 practices answered yes
    obligations: tuple[str, ...]  # Art. 50 obligations answered yes
    findings: tuple[Finding, ...]  # every question, in the regulation's order

    @property
    def blocks_compute(self) -> bool:
        """A prohibited practice gets no compute: no proposal, no job."""
        return self.risk_class is RiskClass.PROHIBITED


class Unanswered(ValueError):
    """Answers missing or unknown; ``problems`` maps each question id to what is wrong."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))
        self.problems = dict(problems)


def assess(answers: Mapping[str, bool]) -> Assessment:
    """The class the answers give. Every question must be answered yes or no."""
    problems = {k: "not a question of the register" for k in answers if k not in BY_ID}
    problems.update({q.id: "answer yes or no" for q in QUESTIONS if q.id not in answers})
    if problems:
        raise Unanswered(problems)
    findings = tuple(Finding(q, bool(answers[q.id])) for q in QUESTIONS)
    yes = [f.question for f in findings if f.answer]
    risk = min((q.gives for q in yes), key=lambda c: c.rank, default=RiskClass.MINIMAL)

    def named(gives: RiskClass) -> tuple[str, ...]:
        return tuple(q.area for q in yes if q.gives is gives)

    return Assessment(
        risk, named(RiskClass.HIGH_RISK), named(RiskClass.PROHIBITED), named(T), findings
    )
