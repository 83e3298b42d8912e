"""Exercise pictures: a start and an end pose per exercise, drawn as a small self-contained SVG.

The poses are data (``knowledge/figures/*.toml``, schema in ``docs/figures.md``): joint angles per pose,
a few simple props, and a plain-words description of each pose. This module validates that data,
turns the angles into 2-D points (forward kinematics of a stick figure about 100 units tall) and draws
them: start and end side by side, the start pose repeated faintly behind the end pose so the movement
shows. Output is deterministic (fixed rounding, fixed order) and has no scripts, no links, no ids and
nothing fetched, so it can be inlined into a page any number of times.

Public API: ``load_figures``, ``figure_problems``, ``check_figures``, ``exercise_svg``, ``gallery_html``.
"""

from __future__ import annotations

import html
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ._tomlio import load_toml_file, pydantic_to_error
from .errors import KnowledgeError, closest

FIGURE_DIR = "figures"
ID_PATTERN = r"^[a-z][a-z0-9_]*$"

# Segment lengths in units of body height (a standing figure is about 100 units tall).
TRUNK = 30.0  # hip to shoulder
NECK = 5.5  # shoulder to the bottom of the head
HEAD_R = 6.5
UPPER_ARM = 18.0
FOREARM = 17.0  # elbow to the grip
THIGH = 24.0
SHIN = 25.0
FOOT = 10.0  # ankle to toe; the heel sticks out 2.5 behind
BEND_SHOWN = 1.8  # a bent spine is drawn more bent than it is, so it shows at this size
SHOULDER_HALF = 9.5  # front view: half the shoulder width
HIP_HALF = 5.0  # front view: half the hip width
# Drawn widths (stroke widths); half of each counts towards a pose's extent.
W_TRUNK = 9.0
W_TRUNK_FRONT = 15.0
W_UPPER_ARM = 4.6
W_FOREARM = 4.0
W_THIGH = 6.2
W_SHIN = 5.0
W_FOOT = 3.4

SIDES = ("left", "right")
JOINTS: tuple[str, ...] = (
    "head",
    "neck",
    "hip",
    "hands",
    "feet",
    *(f"{side}_{part}" for side in SIDES for part in ("shoulder", "elbow", "hand", "knee", "ankle", "toe", "heel")),
)


class _Strict(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


def _range(low: float, high: float) -> Any:
    # Numbers only (no "35", no true), within the range a joint can take.
    return Field(strict=True, ge=low, le=high)


class _Sides(_Strict):
    """A joint's angle on the left and the right: ``shoulder = 90`` for both, ``{ left = 180, right = 0 }``
    where they differ."""

    LOW: ClassVar[float]
    HIGH: ClassVar[float]
    left: float
    right: float

    @model_validator(mode="before")
    @classmethod
    def _one_number_for_both(cls, value: Any) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not cls.LOW <= value <= cls.HIGH:
                raise ValueError(f"must be between {cls.LOW:g} and {cls.HIGH:g}, got {value!r}")
            return {"left": value, "right": value}
        if not isinstance(value, (dict, _Sides)):
            raise ValueError(f"give one angle for both sides, or {{ left = ..., right = ... }}; got {value!r}")
        return value


class _ShoulderSides(_Sides):
    LOW, HIGH = -90, 200
    left: Annotated[float, _range(-90, 200)]
    right: Annotated[float, _range(-90, 200)]


class _ElbowSides(_Sides):
    LOW, HIGH = -90, 165
    left: Annotated[float, _range(-90, 165)]
    right: Annotated[float, _range(-90, 165)]


class _HipSides(_Sides):
    LOW, HIGH = -60, 170
    left: Annotated[float, _range(-60, 170)]
    right: Annotated[float, _range(-60, 170)]


class _KneeSides(_Sides):
    LOW, HIGH = -10, 170
    left: Annotated[float, _range(-10, 170)]
    right: Annotated[float, _range(-10, 170)]


class _AnkleSides(_Sides):
    LOW, HIGH = -50, 70
    left: Annotated[float, _range(-50, 70)]
    right: Annotated[float, _range(-50, 70)]


Number = Annotated[float, _range(-300, 300)]
Point = tuple[Number, Number]
Place = Annotated[str, Field(min_length=2)] | Point


class Pose(_Strict):
    """One position. Angles in degrees; see docs/figures.md for what each means in each view."""

    say: str = Field(min_length=5, max_length=200, description="the pose in plain words, for screen readers")
    trunk: Annotated[float, _range(-180, 180)] = 0.0
    spine: Annotated[float, _range(-60, 60)] = 0.0
    neck: Annotated[float, _range(-80, 80)] = 0.0
    twist: Annotated[float, _range(-90, 90)] = 0.0
    lift: Annotated[float, _range(0, 8)] = 0.0
    lean: Annotated[float, _range(0, 85)] = 0.0
    reach: Annotated[float, _range(0, 85)] = 0.0
    shoulder: _ShoulderSides = Field(default=0, validate_default=True)
    elbow: _ElbowSides = Field(default=0, validate_default=True)
    hip: _HipSides = Field(default=0, validate_default=True)
    knee: _KneeSides = Field(default=0, validate_default=True)
    ankle: _AnkleSides = Field(default=0, validate_default=True)
    # Placement: ``pin`` (a joint, default the hip) goes to ``at``; without ``at`` the pose rests on the floor.
    at: Point | None = None
    pin: str = "hip"

    @field_validator("pin")
    @classmethod
    def _known_pin(cls, pin: str) -> str:
        return _joint_name(pin)


PropKind = Literal[
    "floor", "wall", "bar", "wall_bars", "parallel_bars", "bench", "ball", "chair", "bolster",
    "pad", "barbell", "dumbbell", "cable", "band", "towel",
]  # fmt: skip
PROP_KINDS: tuple[str, ...] = get_args(PropKind)
# What each prop kind takes besides ``kind``: the rest are refused for it.
_PROP_FIELDS: dict[str, tuple[str, ...]] = {
    "floor": (),
    "wall": ("at", "height"),
    "bar": ("at", "width"),
    "wall_bars": ("at", "height"),
    "parallel_bars": ("at", "width"),
    "bench": ("at", "width"),
    "ball": ("at", "size"),
    "chair": ("at", "facing"),
    "bolster": ("at", "width", "height"),
    "pad": ("at", "width", "height", "angle"),
    "barbell": ("at",),
    "dumbbell": ("at",),
    "cable": ("at", "to"),
    "band": ("at", "to"),
    "towel": ("at", "to"),
}
_PROP_NEEDS: dict[str, tuple[str, ...]] = {
    "cable": ("at", "to"),
    "band": ("at", "to"),
    "towel": ("at", "to"),
}


class Prop(_Strict):
    """Equipment drawn simply. ``at``/``to`` are a point [x, y] or a joint name (the prop then moves with it)."""

    kind: str
    at: Place | None = None
    to: Place | None = None
    width: Annotated[float, _range(2, 200)] | None = None
    height: Annotated[float, _range(2, 200)] | None = None
    size: Annotated[float, _range(1, 60)] | None = None
    angle: Annotated[float, _range(-180, 180)] | None = None
    facing: Literal["left", "right"] | None = None

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in PROP_KINDS:
            hint = closest(kind, PROP_KINDS)
            raise ValueError(
                f"unknown prop kind '{kind}'"
                + (f" (did you mean '{hint}'?)" if hint else "")
                + f"; one of: {', '.join(PROP_KINDS)}"
            )
        return kind

    @field_validator("at", "to")
    @classmethod
    def _known_place(cls, place: Any) -> Any:
        return _joint_name(place) if isinstance(place, str) else place

    @model_validator(mode="after")
    def _fields_for_kind(self) -> Prop:
        allowed = _PROP_FIELDS[self.kind]
        for name in ("at", "to", "width", "height", "size", "angle", "facing"):
            if getattr(self, name) is not None and name not in allowed:
                raise ValueError(f"a {self.kind} takes no '{name}' (it takes: {', '.join(allowed) or 'nothing'})")
        needed = (*_PROP_NEEDS.get(self.kind, ()), *(("at",) if allowed and self.kind not in _PROP_NEEDS else ()))
        for name in needed:
            if getattr(self, name) is None:
                raise ValueError(f"a {self.kind} needs '{name}'")
        return self


class Mark(_Strict):
    """A hint drawn over the figure: ``path`` traces a joint from its start to its end position (end
    picture); ``circle`` draws a circling arrow round a joint (both pictures)."""

    kind: Literal["path", "circle"]
    joint: str
    size: Annotated[float, _range(2, 30)] = 6.0

    @field_validator("joint")
    @classmethod
    def _known_joint(cls, joint: str) -> str:
        return _joint_name(joint)


class Figure(_Strict):
    exercise: str = Field(pattern=ID_PATTERN)
    view: Literal["side", "front"] = "side"
    props: tuple[Prop, ...] = ()
    marks: tuple[Mark, ...] = ()
    # True only for an exercise whose start and end look the same (checked by the tests).
    still: bool = Field(default=False, strict=True)
    start: Pose
    end: Pose

    @model_validator(mode="after")
    def _angles_for_view(self) -> Figure:
        for name in ("start", "end"):
            pose: Pose = getattr(self, name)
            if self.view == "side":
                for side in SIDES:
                    if getattr(pose.elbow, side) < -10:
                        raise ValueError(f"{name}.elbow.{side}: at least -10 in a side view (an elbow bends one way)")
                for only_front in ("lean", "reach", "twist"):
                    if getattr(pose, only_front):
                        raise ValueError(f"{name}.{only_front}: only in a front view (view = 'front')")
            elif pose.spine:
                raise ValueError(f"{name}.spine: only in a side view (a front view cannot show it)")
        return self


def _joint_name(name: str) -> str:
    if name not in JOINTS:
        hint = closest(name, JOINTS)
        raise ValueError(f"unknown joint '{name}'" + (f" (did you mean '{hint}'?)" if hint else ""))
    return name


@dataclass(frozen=True)
class Figures:
    """The validated figure data: one figure per exercise id, and the file each came from."""

    root: str
    figures: Mapping[str, Figure]
    origin: Mapping[str, str] = field(default_factory=dict)

    def __contains__(self, exercise_id: object) -> bool:
        return exercise_id in self.figures

    def figure(self, exercise_id: str) -> Figure:
        if exercise_id not in self.figures:
            raise KnowledgeError(
                f"no figure for exercise '{exercise_id}'",
                file=str(Path(self.root) / FIGURE_DIR),
                suggestion=closest(exercise_id, self.figures),
            )
        return self.figures[exercise_id]


def load_figures(knowledge_root: Path) -> Figures:
    """Load and validate every ``figures/*.toml`` under ``knowledge_root``; raises ``KnowledgeError``."""
    folder = Path(knowledge_root) / FIGURE_DIR
    files = sorted(folder.glob("*.toml")) if folder.is_dir() else []
    if not files:
        raise KnowledgeError("no figure files (*.toml) found", file=str(folder))
    figures: dict[str, Figure] = {}
    origin: dict[str, str] = {}
    for path in files:
        data = load_toml_file(path, KnowledgeError)
        unknown = sorted(set(data) - {"figure"})
        if unknown:
            raise KnowledgeError(
                f"unknown top-level key '{unknown[0]}'",
                file=str(path),
                location=unknown[0],
                suggestion=closest(unknown[0], ["figure"]),
            )
        raw = data.get("figure")
        if not isinstance(raw, list) or not raw:
            raise KnowledgeError("expected at least one [[figure]] entry", file=str(path), location="figure")
        for index, item in enumerate(raw):
            label = f"figure[{index}]"
            if isinstance(item, dict) and isinstance(item.get("exercise"), str):
                label = f"figure '{item['exercise']}'"
            try:
                fig = Figure.model_validate(item)
            except ValidationError as exc:
                raise pydantic_to_error(exc, model=Figure, file=str(path), error=KnowledgeError, prefix=label) from None
            if fig.exercise in figures:
                raise KnowledgeError(
                    f"a second figure for exercise '{fig.exercise}' (also in {Path(origin[fig.exercise]).name})",
                    file=str(path),
                    location=label,
                )
            figures[fig.exercise] = fig
            origin[fig.exercise] = str(path)
    return Figures(root=str(knowledge_root), figures=figures, origin=origin)


def figure_problems(figures: Figures, exercise_ids: Iterable[str]) -> list[str]:
    """One line per problem: a figure naming an exercise not in the catalogue, an exercise without a figure."""
    ids = list(dict.fromkeys(exercise_ids))
    known = set(ids)
    problems: list[str] = []
    for ex_id, fig in figures.figures.items():
        if ex_id not in known:
            problems.append(
                KnowledgeError(
                    f"unknown exercise '{ex_id}'",
                    file=figures.origin.get(ex_id),
                    location=f"figure '{ex_id}'.exercise",
                    suggestion=closest(fig.exercise, ids),
                ).line()
            )
    folder = str(Path(figures.root) / FIGURE_DIR)
    for ex_id in ids:
        if ex_id not in figures.figures:
            problems.append(KnowledgeError(f"no figure for exercise '{ex_id}'", file=folder).line())
    return problems


def check_figures(knowledge_root: Path, exercise_ids: Iterable[str]) -> list[str]:
    """Everything wrong with the figures of a knowledge folder, one line each ([] when all is well):
    a file that does not load, a figure for an unknown exercise, an exercise without a figure."""
    try:
        figures = load_figures(knowledge_root)
    except KnowledgeError as exc:
        return [exc.line()]
    return figure_problems(figures, exercise_ids)


# ---------------------------------------------------------------------------------------------- kinematics

Vec = tuple[float, float]


def _dir(angle: float) -> Vec:
    """Unit vector at ``angle`` degrees from straight up, turning towards the figure's front (+x)."""
    rad = math.radians(angle)
    return (math.sin(rad), math.cos(rad))


def _add(p: Vec, d: Vec, length: float = 1.0) -> Vec:
    return (p[0] + d[0] * length, p[1] + d[1] * length)


@dataclass(frozen=True)
class Segment:
    a: Vec
    b: Vec
    width: float
    far: bool  # the far side (drawn lighter, behind)


@dataclass(frozen=True)
class Body:
    """A posed figure in world coordinates (y up): named joints and what to draw."""

    joints: Mapping[str, Vec]
    segments: tuple[Segment, ...]
    trunk: tuple[Vec, Vec, Vec]  # hip, bend control point, neck base (a quadratic curve)
    trunk_width: float
    head: Vec
    face: Vec  # unit vector the face points to; (0, 0) = facing the viewer
    nose_shift: float  # front view: how far the nose is off the centre (a turned head)

    def extent(self) -> tuple[float, float, float, float]:
        xs: list[float] = []
        ys: list[float] = []
        for s in self.segments:
            for p in (s.a, s.b):
                xs += [p[0] - s.width / 2, p[0] + s.width / 2]
                ys += [p[1] - s.width / 2, p[1] + s.width / 2]
        for p in self.trunk:
            xs += [p[0] - self.trunk_width / 2, p[0] + self.trunk_width / 2]
            ys += [p[1] - self.trunk_width / 2, p[1] + self.trunk_width / 2]
        xs += [self.head[0] - HEAD_R, self.head[0] + HEAD_R]
        ys += [self.head[1] - HEAD_R, self.head[1] + HEAD_R]
        return min(xs), min(ys), max(xs), max(ys)


def _pose_side(pose: Pose) -> Body:
    joints: dict[str, Vec] = {}
    segments: list[Segment] = []
    hip = (0.0, 0.0)
    t = pose.trunk
    bend = BEND_SHOWN * (TRUNK / 2) * math.tan(math.radians(pose.spine / 2))
    chord = _dir(t)
    neck = _add(hip, chord, TRUNK)
    mid = _add(hip, chord, TRUNK / 2)
    control = _add(mid, _dir(t - 90), bend)  # a rounded back bulges backwards, an arched one forwards
    top = pose.trunk + pose.spine / 2  # the direction of the spine at the shoulders
    head_dir = _dir(top + pose.neck)
    head = _add(neck, head_dir, NECK + HEAD_R)
    shoulder = _add(neck, chord, pose.lift)
    joints.update(hip=hip, neck=neck, head=head)
    for side in SIDES:
        far = side == "right"  # the figure faces right: we see its left side
        s_ang = getattr(pose.shoulder, side)
        e_ang = getattr(pose.elbow, side)
        upper = t + 180 - s_ang
        elbow = _add(shoulder, _dir(upper), UPPER_ARM)
        hand = _add(elbow, _dir(upper - e_ang), FOREARM)
        h_ang = getattr(pose.hip, side)
        k_ang = getattr(pose.knee, side)
        a_ang = getattr(pose.ankle, side)
        thigh = t + 180 - h_ang
        knee = _add(hip, _dir(thigh), THIGH)
        shin = thigh + k_ang
        ankle = _add(knee, _dir(shin), SHIN)
        foot = _dir(shin - 90 + a_ang)
        toe = _add(ankle, foot, FOOT)
        heel = _add(ankle, foot, -2.5)
        joints.update(
            {
                f"{side}_shoulder": shoulder,
                f"{side}_elbow": elbow,
                f"{side}_hand": hand,
                f"{side}_knee": knee,
                f"{side}_ankle": ankle,
                f"{side}_toe": toe,
                f"{side}_heel": heel,
            }
        )
        segments += [
            Segment(hip, knee, W_THIGH, far),
            Segment(knee, ankle, W_SHIN, far),
            Segment(heel, toe, W_FOOT, far),
            Segment(shoulder, elbow, W_UPPER_ARM, far),
            Segment(elbow, hand, W_FOREARM, far),
        ]
    return Body(
        joints=joints,
        segments=tuple(segments),
        trunk=(hip, control, neck),
        trunk_width=W_TRUNK,
        head=head,
        face=_dir(top + pose.neck + 90),
        nose_shift=0.0,
    )


def _pose_front(pose: Pose) -> Body:
    joints: dict[str, Vec] = {}
    segments: list[Segment] = []
    hip = (0.0, 0.0)
    t = pose.trunk  # leaning to the side; positive towards the figure's left (the viewer's right)
    chord = _dir(t)
    across = _dir(t + 90)
    tall = math.cos(math.radians(pose.lean))  # leaning towards us shortens the trunk
    arm = math.cos(math.radians(pose.reach))  # arms reaching towards us look shorter
    neck = _add(hip, chord, TRUNK * tall)
    squeeze = math.cos(math.radians(pose.twist))  # a turned upper body looks narrower

    def turned(p: Vec) -> Vec:
        return (neck[0] + (p[0] - neck[0]) * squeeze, p[1])

    # Bent towards us, the head comes down in front of the shoulders.
    bow = math.sin(math.radians(pose.lean))
    head = _add(neck, _dir(t + pose.neck), (NECK + HEAD_R) * tall - 7.0 * bow)
    joints.update(hip=hip, neck=neck, head=head)
    for side in SIDES:
        sign = 1.0 if side == "left" else -1.0  # the figure faces us: its left is on our right
        far = False
        shoulder = _add(_add(neck, chord, pose.lift - 2.0), across, sign * SHOULDER_HALF)
        upper = t + 180 - sign * getattr(pose.shoulder, side)
        elbow = _add(shoulder, _dir(upper), UPPER_ARM * arm)
        hand = _add(elbow, _dir(upper - sign * getattr(pose.elbow, side)), FOREARM * arm)
        shoulder, elbow, hand = turned(shoulder), turned(elbow), turned(hand)
        hip_point = _add(hip, across, sign * HIP_HALF)
        thigh = t + 180 - sign * getattr(pose.hip, side)
        knee = _add(hip_point, _dir(thigh), THIGH)
        shin = thigh + sign * getattr(pose.knee, side)
        ankle = _add(knee, _dir(shin), SHIN)
        toe = _add(ankle, _dir(shin - sign * 60), 4.0)
        joints.update(
            {
                f"{side}_shoulder": shoulder,
                f"{side}_elbow": elbow,
                f"{side}_hand": hand,
                f"{side}_knee": knee,
                f"{side}_ankle": ankle,
                f"{side}_toe": toe,
                f"{side}_heel": ankle,
            }
        )
        segments += [
            Segment(hip_point, knee, W_THIGH, far),
            Segment(knee, ankle, W_SHIN, far),
            Segment(ankle, toe, W_FOOT, far),
            Segment(shoulder, elbow, W_UPPER_ARM, far),
            Segment(elbow, hand, W_FOREARM, far),
        ]
    top = turned(_add(neck, chord, pose.lift - 2.0))
    bottom = _add(hip, chord, 3.0 * tall)
    return Body(
        joints=joints,
        segments=tuple(segments),
        trunk=(bottom, _midpoint(bottom, top), top),
        trunk_width=W_TRUNK_FRONT * (0.55 + 0.45 * squeeze) + 4.0 * bow,
        head=head,
        face=(0.0, 0.0),
        nose_shift=HEAD_R * 0.55 * math.sin(math.radians(pose.twist)),
    )


def _moved(body: Body, dx: float, dy: float) -> Body:
    def m(p: Vec) -> Vec:
        return (p[0] + dx, p[1] + dy)

    return Body(
        joints={k: m(v) for k, v in body.joints.items()},
        segments=tuple(Segment(m(s.a), m(s.b), s.width, s.far) for s in body.segments),
        trunk=(m(body.trunk[0]), m(body.trunk[1]), m(body.trunk[2])),
        trunk_width=body.trunk_width,
        head=m(body.head),
        face=body.face,
        nose_shift=body.nose_shift,
    )


def _midpoint(a: Vec, b: Vec) -> Vec:
    return ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)


def _with_pairs(body: Body) -> Body:
    joints = dict(body.joints)
    joints["hands"] = _midpoint(joints["left_hand"], joints["right_hand"])
    joints["feet"] = _midpoint(joints["left_ankle"], joints["right_ankle"])
    return Body(joints, body.segments, body.trunk, body.trunk_width, body.head, body.face, body.nose_shift)


def pose_body(pose: Pose, view: str = "side") -> Body:
    """The pose in world coordinates: ``pin`` at ``at``, or resting on the floor (y = 0) at x = 0."""
    body = _with_pairs(_pose_side(pose) if view == "side" else _pose_front(pose))
    if pose.at is not None:
        px, py = body.joints[pose.pin]
        return _with_pairs(_moved(body, pose.at[0] - px, pose.at[1] - py))
    _, low, _, _ = body.extent()
    return _with_pairs(_moved(body, 0.0, -low))


# ---------------------------------------------------------------------------------------------- drawing

INK = "#1d3557"  # the figure
FAR_INK = "#7b8ba1"  # its far-side limbs
GHOST = "#d9dee6"  # the start pose, faint, behind the end pose
PROP_LINE = "#6b7785"
PROP_FILL = "#e8ecf0"
ACCENT = "#c8553d"  # bands, motion hints
MARGIN = 6.0
LABEL_H = 11.0
GAP = 12.0
PX_PER_UNIT = 1.25


def _fmt(v: float) -> str:
    text = f"{v:.1f}"
    return "0" if text in ("-0.0", "0.0") else text.removesuffix(".0")


def _place(prop: Prop, attr: str, body: Body) -> Vec:
    value = getattr(prop, attr)
    if isinstance(value, str):
        return body.joints[value]
    return (float(value[0]), float(value[1]))


@dataclass
class _Canvas:
    """Collects SVG elements for one panel, mapping world coordinates (y up) to the picture's."""

    ox: float
    oy: float
    x0: float
    y1: float
    parts: list[str] = field(default_factory=list)

    def pt(self, p: Vec) -> tuple[str, str]:
        return _fmt(self.ox + p[0] - self.x0), _fmt(self.oy + self.y1 - p[1])

    def line(self, a: Vec, b: Vec, color: str, width: float, extra: str = "") -> None:
        (x1, y1), (x2, y2) = self.pt(a), self.pt(b)
        self.parts.append(
            f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{color}" stroke-width="{_fmt(width)}"'
            f' stroke-linecap="round"{extra}/>'
        )

    def circle(self, c: Vec, r: float, fill: str, stroke: str = "none", width: float = 0.0) -> None:
        x, y = self.pt(c)
        sw = f' stroke="{stroke}" stroke-width="{_fmt(width)}"' if stroke != "none" else ""
        self.parts.append(f'<circle cx="{x}" cy="{y}" r="{_fmt(r)}" fill="{fill}"{sw}/>')

    def poly(self, points: Sequence[Vec], fill: str, stroke: str, width: float = 1.0) -> None:
        pts = " ".join(",".join(self.pt(p)) for p in points)
        self.parts.append(
            f'<polygon points="{pts}" fill="{fill}" stroke="{stroke}" stroke-width="{_fmt(width)}"'
            ' stroke-linejoin="round"/>'
        )

    def curve(self, a: Vec, c: Vec, b: Vec, color: str, width: float, extra: str = "") -> None:
        (ax, ay), (cx, cy), (bx, by) = self.pt(a), self.pt(c), self.pt(b)
        self.parts.append(
            f'<path d="M{ax} {ay} Q{cx} {cy} {bx} {by}" fill="none" stroke="{color}"'
            f' stroke-width="{_fmt(width)}" stroke-linecap="round"{extra}/>'
        )


def _rect(x: float, y: float, w: float, h: float, angle: float = 0.0) -> list[Vec]:
    """Corners of a w×h box centred on (x, y), turned by ``angle`` degrees (counter-clockwise)."""
    rad = math.radians(angle)
    c, s = math.cos(rad), math.sin(rad)
    out = []
    for dx, dy in ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)):
        out.append((x + dx * c - dy * s, y + dx * s + dy * c))
    return out


def _prop_extent(prop: Prop, body: Body, view: str) -> list[Vec]:
    """World points a prop covers (for the picture's frame); the floor and the bar's posts stretch to fit."""
    k = prop.kind
    if k == "floor":
        return [(0.0, -1.0)]
    at = _place(prop, "at", body)
    if k in ("cable", "band", "towel"):
        return [at, _place(prop, "to", body), (at[0] - 4, at[1]), (at[0] + 4, at[1])]
    if k == "wall":
        return [(at[0] - 2, at[1]), (at[0] + 2, at[1] + (prop.height or 100))]
    if k == "bar":
        w = (prop.width or 28) / 2
        return [(at[0] - w - 1, at[1] - 2), (at[0] + w + 1, at[1] + 6)]
    if k == "wall_bars":
        return [(at[0] - 4, at[1]), (at[0] + 4, at[1] + (prop.height or 120))]
    if k == "parallel_bars":
        w = prop.width or 60
        return [(at[0] - w / 2, 0.0), (at[0] + w / 2, at[1] + 2)]
    if k == "bench":
        w = prop.width or 40
        return [(at[0] - w / 2, 0.0), (at[0] + w / 2, at[1])]
    if k == "ball":
        r = prop.size or 18
        return [(at[0] - r, at[1] - r), (at[0] + r, at[1] + r)]
    if k == "chair":
        return [(at[0] - 13, 0.0), (at[0] + 13, 52.0)]
    if k in ("bolster", "pad"):
        return _rect(at[0], at[1], prop.width or 20, prop.height or 6, prop.angle or 0.0)
    if k == "barbell" and view == "front":
        left, right = body.joints["left_hand"], body.joints["right_hand"]
        return [(hand[0] + dx, hand[1] + dy) for hand in (left, right) for dx in (-13, 13) for dy in (-10, 10)]
    if k == "barbell":
        return [(at[0] - 10, at[1] - 10), (at[0] + 10, at[1] + 10)]
    return [(at[0] - 4, at[1] - 4), (at[0] + 4, at[1] + 4)]  # dumbbell


def _draw_prop(cv: _Canvas, prop: Prop, body: Body, view: str, frame: tuple[float, float, float, float]) -> None:
    x0, y0, x1, y1 = frame
    k = prop.kind
    if k == "floor":
        cv.line((x0, -0.6), (x1, -0.6), PROP_LINE, 1.2)
        return
    at = _place(prop, "at", body)
    if k == "wall":
        top = at[1] + (prop.height or 100)
        cv.poly(_rect(at[0], (at[1] + top) / 2, 3, top - at[1]), PROP_FILL, PROP_LINE, 0.8)
    elif k == "bar":
        w = (prop.width or 28) / 2
        cv.line((at[0] - w, y1), (at[0] - w, at[1]), PROP_LINE, 1.6)
        cv.line((at[0] + w, y1), (at[0] + w, at[1]), PROP_LINE, 1.6)
        cv.line((at[0] - w, at[1]), (at[0] + w, at[1]), PROP_LINE, 2.4)
    elif k == "wall_bars":
        top = at[1] + (prop.height or 120)
        cv.line((at[0] + 2, at[1]), (at[0] + 2, top), PROP_LINE, 2.0)
        y = at[1] + 12.0
        while y < top:
            cv.circle((at[0] - 1, y), 1.3, PROP_FILL, PROP_LINE, 0.8)
            y += 12.0
    elif k == "parallel_bars":
        w = prop.width or 60
        cv.line((at[0] - w / 2 + 4, 0.0), (at[0] - w / 2 + 4, at[1]), PROP_LINE, 1.6)
        cv.line((at[0] + w / 2 - 4, 0.0), (at[0] + w / 2 - 4, at[1]), PROP_LINE, 1.6)
        cv.line((at[0] - w / 2, at[1]), (at[0] + w / 2, at[1]), PROP_LINE, 2.4)
    elif k == "bench":
        w = prop.width or 40
        cv.line((at[0] - w / 2 + 4, 0.0), (at[0] - w / 2 + 4, at[1] - 2), PROP_LINE, 2.0)
        cv.line((at[0] + w / 2 - 4, 0.0), (at[0] + w / 2 - 4, at[1] - 2), PROP_LINE, 2.0)
        cv.poly(_rect(at[0], at[1] - 2, w, 4), PROP_FILL, PROP_LINE, 0.9)
    elif k == "ball":
        cv.circle(at, prop.size or 18, PROP_FILL, PROP_LINE, 1.0)
    elif k == "chair":
        back = at[0] + (11 if prop.facing == "left" else -11)
        cv.line((at[0] - 11, 0.0), (at[0] - 11, 25.0), PROP_LINE, 1.8)
        cv.line((at[0] + 11, 0.0), (at[0] + 11, 25.0), PROP_LINE, 1.8)
        cv.line((back, 25.0), (back, 51.0), PROP_LINE, 2.2)
        cv.line((at[0] - 12, 25.0), (at[0] + 12, 25.0), PROP_LINE, 2.6)
    elif k in ("bolster", "pad"):
        cv.poly(_rect(at[0], at[1], prop.width or 20, prop.height or 6, prop.angle or 0.0), PROP_FILL, PROP_LINE, 0.9)
    elif k == "barbell" and view == "front":
        left, right = body.joints["left_hand"], body.joints["right_hand"]
        cv.line((right[0] - 12, right[1]), (left[0] + 12, left[1]), PROP_LINE, 1.8)
        cv.poly(_rect(right[0] - 10, right[1], 3, 18), PROP_FILL, PROP_LINE, 0.9)
        cv.poly(_rect(left[0] + 10, left[1], 3, 18), PROP_FILL, PROP_LINE, 0.9)
    elif k == "barbell":
        cv.circle(at, 9.0, PROP_FILL, PROP_LINE, 1.2)
        cv.circle(at, 1.6, PROP_LINE)
    elif k == "dumbbell":
        if view == "front":
            cv.line((at[0] - 4, at[1]), (at[0] + 4, at[1]), PROP_LINE, 1.4)
            cv.poly(_rect(at[0] - 4, at[1], 2.4, 6), PROP_LINE, PROP_LINE, 0.5)
            cv.poly(_rect(at[0] + 4, at[1], 2.4, 6), PROP_LINE, PROP_LINE, 0.5)
        else:
            cv.circle(at, 3.6, PROP_LINE, INK, 0.6)
    elif k == "cable":
        to = _place(prop, "to", body)
        # A high pulley hangs from above; a low one sits on a column standing on the floor.
        if at[1] > 70:
            cv.poly(_rect(at[0], (at[1] + y1) / 2, 3, y1 - at[1]), PROP_FILL, PROP_LINE, 0.8)
        else:
            cv.poly(
                _rect(at[0] + 2, (at[1] + 8 + max(y0, 0.0)) / 2, 4, at[1] + 8 - max(y0, 0.0)), PROP_FILL, PROP_LINE, 0.8
            )
        cv.line(at, to, PROP_LINE, 0.9)
        cv.circle(at, 2.2, PROP_FILL, PROP_LINE, 1.0)
    elif k == "band":
        to = _place(prop, "to", body)
        cv.line(at, to, ACCENT, 1.8)
    elif k == "towel":
        to = _place(prop, "to", body)
        cv.line(at, to, ACCENT, 1.4)


_BEHIND = ("floor", "wall", "bar", "wall_bars", "parallel_bars", "bench", "ball", "chair", "bolster", "pad", "cable")


def _draw_body(cv: _Canvas, body: Body, ghost: bool) -> None:
    def ink(far: bool) -> str:
        return GHOST if ghost else (FAR_INK if far else INK)

    for s in body.segments:
        if s.far:
            cv.line(s.a, s.b, ink(True), s.width)
    cv.curve(*body.trunk, color=ink(False), width=body.trunk_width)
    cv.circle(body.head, HEAD_R, ink(False))
    if not ghost:
        if body.face != (0.0, 0.0):  # side view: a nose shows which way the face points
            tip = _add(body.head, body.face, HEAD_R + 1.6)
            cv.line(_add(body.head, body.face, HEAD_R - 1.0), tip, INK, 2.2)
        elif body.nose_shift:
            cv.circle((body.head[0] + body.nose_shift, body.head[1] - 0.5), 1.3, "#ffffff")
    for s in body.segments:
        if not s.far:
            cv.line(s.a, s.b, ink(False), s.width)


def _arrow_head(cv: _Canvas, tip: Vec, direction: Vec, size: float = 3.2) -> None:
    n = math.hypot(*direction) or 1.0
    d = (direction[0] / n, direction[1] / n)
    perp = (-d[1], d[0])
    base = _add(tip, d, -size)
    cv.poly([tip, _add(base, perp, size * 0.55), _add(base, perp, -size * 0.55)], ACCENT, ACCENT, 0.4)


def _unit(v: Vec) -> Vec:
    n = math.hypot(*v) or 1.0
    return (v[0] / n, v[1] / n)


def _path(a: Vec, b: Vec) -> tuple[Vec, Vec, Vec] | None:
    """A motion arrow from ``a`` to ``b``: start, bend and end of a gentle curve (None when they are close)."""
    length = math.hypot(b[0] - a[0], b[1] - a[1])
    if length < 8:
        return None
    d = _unit((b[0] - a[0], b[1] - a[1]))
    a2, b2 = _add(a, d, 2.5), _add(b, d, -5.0)
    return a2, _add(_midpoint(a2, b2), (-d[1], d[0]), length * 0.18), b2


def _draw_marks(cv: _Canvas, fig: Figure, start: Body, end: Body, panel: str) -> None:
    for mark in fig.marks:
        if mark.kind == "path" and panel == "end":
            path = _path(start.joints[mark.joint], end.joints[mark.joint])
            if path is None:
                continue
            a2, c, b2 = path
            cv.curve(a2, c, b2, color=ACCENT, width=1.1, extra=' stroke-dasharray="2.5 2"')
            tip = _add(b2, _unit((b2[0] - a2[0], b2[1] - a2[1])), 0.5)
            _arrow_head(cv, tip, (b2[0] - c[0], b2[1] - c[1]))
        elif mark.kind == "circle":
            body = start if panel == "start" else end
            c = body.joints[mark.joint]
            r = mark.size
            pts = [_add(c, _dir(a), r) for a in range(30, 331, 30)]
            for i in range(len(pts) - 1):
                cv.line(pts[i], pts[i + 1], ACCENT, 1.1)
            _arrow_head(cv, _add(c, _dir(345), r), (math.cos(math.radians(15)) * 1, -math.sin(math.radians(15))))


@dataclass(frozen=True)
class Layout:
    """A figure posed and framed: the two bodies and the world frame both pictures share."""

    start: Body
    end: Body
    frame: tuple[float, float, float, float]  # x0, y0, x1, y1 in world units

    @property
    def view_box(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.frame
        return 2 * (x1 - x0) + GAP, (y1 - y0) + LABEL_H


def layout(fig: Figure) -> Layout:
    start, end = pose_body(fig.start, fig.view), pose_body(fig.end, fig.view)
    xs: list[float] = []
    ys: list[float] = []
    for body in (start, end):
        x0, y0, x1, y1 = body.extent()
        xs += [x0, x1]
        ys += [y0, y1]
        for prop in fig.props:
            for p in _prop_extent(prop, body, fig.view):
                xs.append(p[0])
                ys.append(p[1])
        for mark in fig.marks:
            if mark.kind == "circle":
                c = body.joints[mark.joint]
                xs += [c[0] - mark.size - 2, c[0] + mark.size + 2]
                ys += [c[1] - mark.size - 2, c[1] + mark.size + 2]
            path = _path(start.joints[mark.joint], end.joints[mark.joint]) if mark.kind == "path" else None
            for p in path or ():
                xs += [p[0] - 3, p[0] + 3]
                ys += [p[1] - 3, p[1] + 3]
    frame = (min(xs) - MARGIN, min(ys) - MARGIN, max(xs) + MARGIN, max(ys) + MARGIN)
    # Not too narrow: a standing figure keeps some room either side for its label.
    if frame[2] - frame[0] < 48:
        pad = (48 - (frame[2] - frame[0])) / 2
        frame = (frame[0] - pad, frame[1], frame[2] + pad, frame[3])
    return Layout(start, end, frame)


def _panel(cv: _Canvas, fig: Figure, lay: Layout, panel: str) -> None:
    body = lay.start if panel == "start" else lay.end
    for prop in fig.props:
        if prop.kind in _BEHIND:
            _draw_prop(cv, prop, body, fig.view, lay.frame)
    if panel == "end":
        _draw_body(cv, lay.start, ghost=True)
    _draw_body(cv, body, ghost=False)
    for prop in fig.props:
        if prop.kind not in _BEHIND:
            _draw_prop(cv, prop, body, fig.view, lay.frame)
    _draw_marks(cv, fig, lay.start, lay.end, panel)


def _title(exercise_id: str, name: str | None) -> str:
    return name or exercise_id.replace("_", " ").capitalize()


def describe(fig: Figure) -> str:
    """The picture in plain words: what a screen reader says."""
    return f"Start: {fig.start.say.rstrip('.')}. End: {fig.end.say.rstrip('.')}."


def exercise_svg(figures: Figures, exercise_id: str, name: str | None = None) -> str:
    """The exercise's picture as one inline ``<svg>`` element (start and end side by side).

    ``name`` is the exercise's name as a person reads it (the picture's title); without it the id is
    used. Raises ``KnowledgeError`` when the exercise has no figure.
    """
    fig = figures.figure(exercise_id)
    lay = layout(fig)
    width, height = lay.view_box
    x0, y0, x1, y1 = lay.frame
    panel_w = x1 - x0
    esc = html.escape
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_fmt(width)} {_fmt(height)}"'
        f' width="{_fmt(width * PX_PER_UNIT)}" height="{_fmt(height * PX_PER_UNIT)}" role="img"'
        ' class="exercise-figure">',
        f"<title>{esc(_title(exercise_id, name))}: start and end positions</title>",
        f"<desc>{esc(describe(fig))}</desc>",
    ]
    for index, panel in enumerate(("start", "end")):
        ox = index * (panel_w + GAP)
        cv = _Canvas(ox=ox, oy=0.0, x0=x0, y1=y1)
        cv.parts.append(
            f'<rect x="{_fmt(ox)}" y="0" width="{_fmt(panel_w)}" height="{_fmt(y1 - y0)}" rx="3"'
            ' fill="#ffffff" stroke="#c9d1da" stroke-width="0.6"/>'
        )
        _panel(cv, fig, lay, panel)
        label = "Start" if panel == "start" else "End"
        cv.parts.append(
            f'<text x="{_fmt(ox + panel_w / 2)}" y="{_fmt(y1 - y0 + LABEL_H - 3)}" text-anchor="middle"'
            f' font-family="sans-serif" font-size="7.5" fill="#3d4650">{label}</text>'
        )
        parts.append("<g>" + "".join(cv.parts) + "</g>")
    arrow_y = (y1 - y0) / 2
    gx = panel_w + GAP / 2
    parts.append(
        f'<path d="M{_fmt(gx - 3.5)} {_fmt(arrow_y - 4)} L{_fmt(gx + 2.5)} {_fmt(arrow_y)}'
        f' L{_fmt(gx - 3.5)} {_fmt(arrow_y + 4)}" fill="none" stroke="#8a96a3" stroke-width="1.6"'
        ' stroke-linecap="round" stroke-linejoin="round"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def gallery_html(
    figures: Figures, names: Mapping[str, str], order: Sequence[str] | None = None, *, compact: bool = False
) -> str:
    """A self-contained HTML page showing every figure (for reviewing the data); ``names``: id -> name.

    ``compact``: names only, drawn smaller, for one screenshot of them all."""
    ids = [ex_id for ex_id in (order if order is not None else figures.figures) if ex_id in figures.figures]
    cards = []
    for ex_id in ids:
        name = names.get(ex_id, ex_id)
        caption = f"<b>{html.escape(name)}</b>"
        if not compact:
            caption += f" <code>{html.escape(ex_id)}</code><br>{html.escape(describe(figures.figures[ex_id]))}"
        cards.append(
            f'<figure><div class="pic">{exercise_svg(figures, ex_id, name)}</div>'
            f"<figcaption>{caption}</figcaption></figure>"
        )
    style = (
        "body{font-family:sans-serif;margin:6px;color:#222}"
        "main{display:flex;flex-wrap:wrap;gap:4px 10px;align-items:flex-end}figure{margin:0;text-align:center}"
        "figcaption{font-size:11px;max-width:230px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}"
        "figcaption b{font-weight:normal}svg{zoom:0.78}"
        if compact
        else "body{font-family:sans-serif;margin:12px;color:#222}"
        "main{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:10px}"
        "figure{margin:0;border:1px solid #dde;border-radius:4px;padding:6px}"
        "figcaption{font-size:11px;line-height:1.3}.pic{min-height:140px;display:flex;align-items:flex-end}"
        "code{color:#667;font-size:10px}"
    )
    heading = "" if compact else f"<h1>Exercise figures ({len(cards)})</h1>"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Exercise figures</title>'
        f"<style>{style}</style></head><body>{heading}<main>" + "".join(cards) + "</main></body></html>\n"
    )


USAGE = "usage: python -m engine.figures --preview DIR [--compact] [KNOWLEDGE_FOLDER]\n"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m engine.figures --preview DIR [--compact] [KNOWLEDGE]``: write DIR/index.html, a gallery of
    every figure in catalogue order. Exit 0, or 2 (and the problems on stderr) when figures are missing."""
    args = list(sys.argv[1:] if argv is None else argv)
    compact = "--compact" in args
    args = [a for a in args if a != "--compact"]
    if len(args) not in (2, 3) or args[0] != "--preview":
        sys.stderr.write(USAGE)
        return 2
    from .knowledge import load_knowledge
    from .resources import default_knowledge_dir

    root = Path(args[2]) if len(args) == 3 else default_knowledge_dir()
    try:
        knowledge = load_knowledge(root)
        figures = load_figures(root)
    except KnowledgeError as exc:
        sys.stderr.write(exc.line() + "\n")
        return 2
    problems = figure_problems(figures, knowledge.exercises)
    for line in problems:
        sys.stderr.write(line + "\n")
    out = Path(args[1])
    out.mkdir(parents=True, exist_ok=True)
    names = {ex_id: ex.name for ex_id, ex in knowledge.exercises.items()}
    page = gallery_html(figures, names, list(knowledge.exercises), compact=compact)
    (out / "index.html").write_text(page, encoding="utf-8")
    return 2 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
