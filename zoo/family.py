"""`Family`: what a zoo model family is, besides its layers.

Each family module declares its facts next to its `PRESETS`:

    FACTS = dict(
        tasks={"language_model": "causal_lm", "tagging": "tagging"},
        default_sequence_length=128,
        text_interface="language_model",
    )

and the packages that need them (`keras_seq.data` to batch, `.training` to
pick metrics, `.export` to build the text interface) ask the family, never
switch on its name. A user family gives the same facts to `zoo.register`.

Facts:

- `tasks`: `{task: batch format}`, the `keras_seq.data` tasks the family
  trains on and the batches it takes for each (`keras_seq.data.BATCH_FORMATS`:
  `"causal_lm"`, `"span_corruption"`, `"masked_lm"`, `"seq2seq"`,
  `"classification"`, `"cls_sep_classification"`, `"tagging"`,
  `"regression"`).
- `default_sequence_length`: the LM window / block length, or the most tokens
  kept per text, when the run does not say (`None`: keep all).
- `text_interface`: how the trained model answers text (export's
  `serve_text`, the generate tool): `"language_model"` (prompt in,
  continuation out), `"seq2seq"` (source in, target out), `"classifier"`
  (text in, label out) or `None` (ids only).
- `validation_metrics`: `{task: (metric, "min" | "max")}`, what the train
  tool keeps the best model by (a key of `keras_seq.training.evaluation`'s
  metrics, and which way is better); tasks not listed get the default of
  their batch format (`DEFAULT_VALIDATION_METRICS`).
- `training_defaults`: `{preset: {setting: value}}`, the train tool's
  settings (`TRAINING_SETTINGS`: `steps`, `batch_size`, `learning_rate`,
  `schedule`, `weight_decay`, `sequence_length`) chosen, from measurements,
  for a preset meant for real use; a flag the user passes wins, and a preset
  not listed (such as `tiny`) gets the tool's own defaults.
- `fine_tuning_defaults`: `{setting: value}`, the same settings for
  fine-tuning a pretrained checkpoint (`--init_from` a keras-hub preset or
  Hugging Face directory), which needs a far smaller learning rate than
  training from scratch; used instead of `training_defaults` then.
"""

import dataclasses

TEXT_INTERFACES = ("language_model", "seq2seq", "classifier")
# The train tool's settings a family may choose per preset (`training_defaults`).
TRAINING_SETTINGS = (
    "steps",
    "batch_size",
    "learning_rate",
    "schedule",
    "weight_decay",
    "sequence_length",
)
DEFAULT_VALIDATION_METRICS = {
    "causal_lm": ("loss", "min"),
    "span_corruption": ("loss", "min"),
    "masked_lm": ("loss", "min"),
    "seq2seq": ("exact_match", "max"),
    "classification": ("accuracy", "max"),
    "cls_sep_classification": ("accuracy", "max"),
    "tagging": ("accuracy", "max"),
    "regression": ("mse", "min"),
}


@dataclasses.dataclass(frozen=True)
class Family:
    """A registered model family (see the module docstring).

    Attributes:
        name: the name `zoo.build` and the tools' `--model` take.
        build_model: `build_model(**hyperparameters) -> keras.Model`.
        presets: `{preset: {hyperparameter: value}}`, `"tiny"` first.
        tasks: `{task: batch format}`.
        default_sequence_length: int or `None`.
        text_interface: one of `TEXT_INTERFACES` or `None`.
        validation_metrics: `{task: (metric, "min" | "max")}` or `None`.
        training_defaults: `{preset: {setting: value}}` or `None`.
        fine_tuning_defaults: `{setting: value}` or `None`.
        module: the module that defines it (imported before loading a
            `.keras` file of it, so its classes are registered).
    """

    name: str
    build_model: object
    presets: dict
    tasks: dict
    default_sequence_length: int = None
    text_interface: str = None
    validation_metrics: dict = None
    training_defaults: dict = None
    fine_tuning_defaults: dict = None
    module: str = None

    def __post_init__(self):
        where = f"zoo family {self.name!r}"
        if not callable(self.build_model):
            raise ValueError(f"{where}: build_model must be callable.")
        if not self.presets or not all(
            isinstance(v, dict) for v in self.presets.values()
        ):
            raise ValueError(f"{where}: presets must be a non-empty dict of dicts.")
        if not self.tasks or not isinstance(self.tasks, dict):
            raise ValueError(
                f"{where}: tasks must be a non-empty dict {{task: batch format}}."
            )
        if self.text_interface not in (None, *TEXT_INTERFACES):
            raise ValueError(
                f"{where}: text_interface must be one of {TEXT_INTERFACES} or "
                f"None, got {self.text_interface!r}."
            )
        for preset, settings in (self.training_defaults or {}).items():
            if preset not in self.presets:
                raise ValueError(
                    f"{where}: training_defaults names preset {preset!r}, which "
                    f"is not one of its presets {sorted(self.presets)}."
                )
            _check_settings(f"{where}: training_defaults[{preset!r}]", settings)
        _check_settings(f"{where}: fine_tuning_defaults", self.fine_tuning_defaults)

    def batch_format(self, task):
        """The batch format this family trains on for `task`, or `None`."""
        return self.tasks.get(task)

    def training_default(self, preset):
        """The train tool's settings this family chose for `preset` (a copy;
        `{}` when it chose none)."""
        return dict((self.training_defaults or {}).get(preset, {}))

    def fine_tuning_default(self):
        """The train tool's settings this family chose for fine-tuning a
        pretrained checkpoint (a copy; `{}` when it chose none)."""
        return dict(self.fine_tuning_defaults or {})

    def validation_metric(self, task):
        """`(metric, mode)` the train tool keeps the best model by on `task`.

        Raises:
            ValueError: the family does not train on `task`.
        """
        if task not in self.tasks:
            raise ValueError(
                f"zoo family {self.name!r} has no validation metric for task "
                f"{task!r}; it trains on {sorted(self.tasks)}."
            )
        declared = (self.validation_metrics or {}).get(task)
        if declared is not None:
            return tuple(declared)
        return DEFAULT_VALIDATION_METRICS.get(self.tasks[task], ("loss", "min"))


def _check_settings(where, settings):
    """`ValueError` naming `where` unless `settings` is a dict of the
    `TRAINING_SETTINGS` (or `None`)."""
    if settings is None:
        return
    if not isinstance(settings, dict):
        raise ValueError(f"{where} must be a dict {{setting: value}}.")
    unknown = sorted(set(settings) - set(TRAINING_SETTINGS))
    if unknown:
        raise ValueError(
            f"{where} has unknown settings {unknown}; known: {list(TRAINING_SETTINGS)}."
        )
