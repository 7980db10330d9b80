"""Validation during training: the best weights kept, early stopping, and an
overfitting warning.

`BestKeeper` is a Keras callback used by both training paths (`model.fit` and
`distributed_loop.fit`). Every `every` steps (and when training ends) it calls
`evaluate(model)`, a function returning the family's validation metrics, and:

- writes them to TensorBoard (`summary_dir`) and to the progress line;
- keeps the weights with the best value of `metric` (`mode="min"` or `"max"`;
  ties on `metric` go to the lower `loss`): they are written to
  `directory/step-<N>.weights.npz` and then named in `directory/best.json`,
  which is replaced atomically, so a process killed at any point leaves a
  best-so-far that is complete; `restore_best()` loads them at the end;
- stops training after `patience` evaluations without improvement;
- warns once, when the metric is clearly worse than its best (by more than
  `margin` of it) while the training loss is lower than it was at the best
  step: the model has started to overfit.

`best.json` also holds every evaluation (step, metrics, training loss), so a
run resumed after SIGKILL continues from its best so far: evaluations of
steps after the checkpoint it resumes from are dropped (they are trained
again), the best weights are kept even if they came from such a step.

Example:
    >>> keeper = BestKeeper("/tmp/run/best", lambda m: {"loss": 1.0},  # doctest: +SKIP
    ...                     metric="loss", mode="min", every=100, patience=5)
    >>> keeper.resume(start_step)  # doctest: +SKIP
    >>> model.fit(data, steps_per_epoch=n, callbacks=[keeper])  # doctest: +SKIP
    >>> best_step = keeper.restore_best()  # doctest: +SKIP
"""

import glob
import json
import math
import os

import keras
import numpy as np
import tensorflow as tf

# Which way is better, for the metrics `keras_seq.training.evaluation` reports.
DIRECTIONS = {
    "loss": "min",
    "perplexity": "min",
    "bits_per_token": "min",
    "bits_per_character": "min",
    "bits_per_byte": "min",
    "mse": "min",
    "mae": "min",
    "accuracy": "max",
    "exact_match": "max",
    "teacher_forced_exact_match": "max",
    "bleu": "max",
}
STATE_FILE = "best.json"


class BestKeeper(keras.callbacks.Callback):
    """Evaluates on validation data every `every` steps and keeps the best.

    Args:
        directory: where `best.json` and the best weights go.
        evaluate: `evaluate(model) -> dict` of validation metrics.
        metric: the key of that dict to select on.
        mode: `"min"` or `"max"`: which way `metric` is better.
        every: evaluate every this many optimizer steps.
        patience: stop after this many evaluations without improvement
            (`None`: never).
        margin: relative worsening of `metric` that counts as overfitting.
        suggestion: the fix the overfitting warning suggests.
        summary_dir: TensorBoard directory for the validation scalars.
        log: where the progress lines and the warning go.
    """

    def __init__(
        self,
        directory,
        evaluate,
        metric,
        mode,
        every,
        patience=None,
        margin=0.05,
        suggestion="train fewer steps or regularize more",
        summary_dir=None,
        log=print,
    ):
        super().__init__()
        if mode not in ("min", "max"):
            raise ValueError(f"BestKeeper: mode must be 'min' or 'max', got {mode!r}")
        if every < 1:
            raise ValueError(f"BestKeeper: every must be >= 1, got {every}")
        if patience is not None and patience < 1:
            raise ValueError(f"BestKeeper: patience must be >= 1, got {patience}")
        self.directory = directory
        self.evaluate = evaluate
        self.metric = metric
        self.mode = mode
        self.every = every
        self.patience = patience
        self.margin = margin
        self.suggestion = suggestion
        self.summary_dir = summary_dir
        self.log = log
        self.state = self._fresh_state()
        self._writer = None

    # === State ===

    def _fresh_state(self):
        return {
            "metric": self.metric,
            "mode": self.mode,
            "best": None,
            "history": [],
            "stopped_early_at": None,
            "overfitting_warned": False,
        }

    @property
    def best(self):
        """`{"step", "value", "metrics", "weights"}` of the best evaluation, or None."""
        return self.state["best"]

    @property
    def stopped_early_at(self):
        return self.state["stopped_early_at"]

    def resume(self, start_step):
        """Reads `best.json` (if any) for a run resuming at `start_step`.

        Raises:
            ValueError: the file is unreadable, or selected on another metric.
        """
        path = os.path.join(self.directory, STATE_FILE)
        if not os.path.exists(path):
            self._remove_unnamed_weights()
            return
        try:
            with open(path, encoding="utf-8") as f:
                state = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"{path} cannot be read: {e}") from e
        if (state.get("metric"), state.get("mode")) != (self.metric, self.mode):
            raise ValueError(
                f"{path} kept the best {state.get('mode')} {state.get('metric')}, "
                f"not the best {self.mode} {self.metric}; resume with the same "
                "--validation_metric"
            )
        state["history"] = [h for h in state["history"] if h["step"] <= start_step]
        stopped = state.get("stopped_early_at")
        if stopped is not None and stopped > start_step:
            state["stopped_early_at"] = None
        self.state = {**self._fresh_state(), **state}
        self._remove_unnamed_weights()

    def restore_best(self, model=None):
        """Loads the best weights into `model` (default: the callback's);
        returns the best step, or None when nothing was evaluated."""
        if self.best is None:
            return None
        model = model or self.model
        with np.load(os.path.join(self.directory, self.best["weights"])) as saved:
            model.set_weights([saved[f"arr_{i}"] for i in range(len(saved.files))])
        return self.best["step"]

    # === Callback ===

    def _step(self):
        return int(self.model.optimizer.iterations.numpy())

    def on_train_begin(self, logs=None):
        if not self.state["history"]:
            self.validate(self._step(), None)

    def on_train_batch_end(self, batch, logs=None):
        step = self._step()
        if step % self.every == 0:
            self.validate(step, (logs or {}).get("loss"), logs)

    def on_train_end(self, logs=None):
        step = self._step()
        history = self.state["history"]
        if not history or history[-1]["step"] != step:
            self.validate(step, (logs or {}).get("loss"), logs)
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # === One evaluation ===

    def validate(self, step, train_loss, logs=None):
        """Evaluates now (at `step`); returns the metrics."""
        # Evaluating resets the compiled metrics: keep the training ones.
        variables = [v for m in self.model.metrics for v in m.variables]
        saved = [v.numpy() for v in variables]
        metrics = {
            k: float(v)
            for k, v in self.evaluate(self.model).items()
            if isinstance(v, int | float)
        }
        for variable, value in zip(variables, saved):
            variable.assign(value)
        if self.metric not in metrics:
            raise ValueError(
                f"validation metric {self.metric!r} is not among the metrics of "
                f"this model and data: {sorted(metrics)}"
            )
        value = metrics[self.metric]
        train_loss = None if train_loss is None else float(train_loss)
        self.state["history"].append(
            {"step": step, "metrics": metrics, "train_loss": train_loss}
        )
        improved = self._better(metrics, self.best)
        if improved:
            name = f"step-{step}.weights.npz"
            self._save_weights(name)
            self.state["best"] = {
                "step": step,
                "value": value,
                "metrics": metrics,
                "train_loss": train_loss,
                "weights": name,
            }
        elif self._overfitting(value, train_loss):
            self.state["overfitting_warned"] = True
            best = self.best
            self.log(
                f"WARNING overfitting: best validation {self.metric} "
                f"{best['value']:.4g} at step {best['step']}, now {value:.4g} at "
                f"step {step}, while the training loss fell from "
                f"{best['train_loss']:.4g} to {train_loss:.4g}. The kept model is "
                f"the one of step {best['step']}. Fix: {self.suggestion}."
            )
        stale = self._evaluations_since_best()
        if self.patience is not None and stale >= self.patience:
            self.model.stop_training = True
            self.state["stopped_early_at"] = step
        self._write_state()
        self._remove_unnamed_weights()
        self._summarize(step, metrics)
        if logs is not None:
            logs[f"val_{self.metric}"] = value
        self.log(self._line(step, metrics, train_loss))
        if self.state["stopped_early_at"] == step:
            self.log(
                f"Early stopping at step {step}: no better validation "
                f"{self.metric} in {stale} evaluations; best at step "
                f"{self.best['step']}."
            )
        return metrics

    def _better(self, metrics, best):
        if best is None:
            return True
        value, previous = metrics[self.metric], best["value"]
        if not math.isfinite(value):
            return False
        if value != previous:
            return value < previous if self.mode == "min" else value > previous
        loss, best_loss = metrics.get("loss"), best["metrics"].get("loss")
        return loss is not None and best_loss is not None and loss < best_loss

    def _overfitting(self, value, train_loss):
        best = self.best
        if self.state["overfitting_warned"] or best is None:
            return False
        if train_loss is None or best.get("train_loss") is None:
            return False
        worse = value - best["value"] if self.mode == "min" else best["value"] - value
        clearly = worse > self.margin * max(abs(best["value"]), 1e-8)
        return clearly and train_loss < best["train_loss"]

    def _evaluations_since_best(self):
        best_step = self.best["step"] if self.best else -1
        return sum(1 for h in self.state["history"] if h["step"] > best_step)

    def _line(self, step, metrics, train_loss):
        shown = ", ".join(f"{k} {v:.4g}" for k, v in sorted(metrics.items()))
        train = "" if train_loss is None else f"train loss {train_loss:.4g}; "
        best = self.best
        return (
            f"step {step}: {train}validation {shown} "
            f"(best {self.metric} {best['value']:.4g} at step {best['step']})"
        )

    # === Files ===

    def _save_weights(self, name):
        os.makedirs(self.directory, exist_ok=True)
        final = os.path.join(self.directory, name)
        tmp = os.path.join(self.directory, f".tmp-{name}")
        # The model's weights only (a .weights.h5 would hold the optimizer's).
        with open(tmp, "wb") as f:
            np.savez(f, *self.model.get_weights())
        os.replace(tmp, final)

    def _write_state(self):
        os.makedirs(self.directory, exist_ok=True)
        path = os.path.join(self.directory, STATE_FILE)
        tmp = f"{path}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.state, f, indent=2, sort_keys=True)
        os.replace(tmp, path)

    def _remove_unnamed_weights(self):
        """Deletes weight files `best.json` does not name (older bests, or
        ones written just before a kill)."""
        keep = self.best["weights"] if self.best else None
        pattern = os.path.join(self.directory, "*.weights.npz")
        hidden = os.path.join(self.directory, ".tmp-*.weights.npz")
        for path in glob.glob(pattern) + glob.glob(hidden):
            if os.path.basename(path) != keep:
                os.remove(path)

    def _summarize(self, step, metrics):
        if self.summary_dir is None:
            return
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.summary_dir)
        with self._writer.as_default():
            for key, value in metrics.items():
                tf.summary.scalar(key, value, step=step)
        self._writer.flush()
