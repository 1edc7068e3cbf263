"""``specialize demo``: the whole workflow, offline, on the embedded SmolLM2-135M-Instruct, on CPU.

assess + break-even -> baselines (base plain, base with a better prompt) -> generate_batch (the local model as
teacher, served by llama.cpp on 127.0.0.1) -> validate_rows (decontaminated against every eval set) ->
split_dataset -> train_qlora -> run_eval -> run_pairwise_judge (fine-tuned vs base) -> export_gguf and the quant
ladder -> release_gate -> report.md with plots and the model card.

Every stage calls the same tool the MCP server exposes, through the catalog. ``SPECIALIZE_TEACHER`` and
``SPECIALIZE_JUDGE`` swap in any litellm model (e.g. a hosted frontier model with its key in the environment).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from specialize.runtime import jobs
from specialize.runtime.embedded import EMBEDDED_ALIAS, embedded_gguf_path
from specialize.runtime.errors import JobError
from specialize.runtime.workspace import rel, workspace_root

TASK = "builtin:tasks/support-triage"
TEACHER_ALIAS = "smollm2-135m"


@dataclass
class DemoSettings:
    fast: bool = False
    golden_limit: int | None = 16         # golden items per evaluation (the set has 40; None = all)
    gen_rows: int = 24                    # rows asked of the teacher
    train_steps: int = 24
    train_batch: int = 2
    judge_items: int = 8                  # items the judge sees (two calls each, positions swapped)
    max_tokens: int = 40                  # the answer is one short JSON object (~30 tokens)
    threads: int = max(1, os.cpu_count() or 1)
    quants: list[str] = field(default_factory=lambda: ["q8_0", "q4_k_m"])

    @classmethod
    def for_mode(cls, fast: bool) -> "DemoSettings":
        if fast:
            return cls(fast=True, golden_limit=6, gen_rows=8, train_steps=6, judge_items=4, quants=["q8_0"])
        return cls()


@dataclass
class Stage:
    name: str
    seconds: float = 0.0
    ok: bool = True
    note: str = ""


class Demo:
    def __init__(self, settings: DemoSettings, console: Console | None = None) -> None:
        from specialize.runtime.catalog import load_all

        self.s = settings
        self.console = console or Console(stderr=False)
        self.tools = load_all()
        self.ws = workspace_root()
        self.stamp = time.strftime("%Y%m%d-%H%M%S")
        self.out = f"demo/{self.stamp}"
        self.stages: list[Stage] = []
        self.r: dict[str, Any] = {}
        self.server: Any = None
        self.teacher_model = os.environ.get("SPECIALIZE_TEACHER")
        self.judge_model = os.environ.get("SPECIALIZE_JUDGE")

    # -- helpers --------------------------------------------------------------------------------------
    def call(self, name: str, **args: Any) -> Any:
        return self.tools[name].run(args)

    def stage(self, name: str, fn: Callable[[], str | None], *, finding: bool = False) -> None:
        """Run one stage. A failed stage stops the demo, unless its failure is itself a finding (an export
        whose files fail their checks, say): then it is reported and the demo goes on to the gate and report."""
        self.console.rule(f"[bold]{len(self.stages) + 1}. {name}")
        st = Stage(name)
        started = time.perf_counter()
        try:
            st.note = fn() or ""
        except Exception as exc:  # a failed stage is reported, and the demo says which one
            st.ok = False
            st.note = f"{type(exc).__name__}: {exc}"
            self.console.print(f"[red]stage failed:[/] {st.note}")
            if not finding:
                raise
        finally:
            st.seconds = time.perf_counter() - started
            self.stages.append(st)
        if st.ok:
            self.console.print(f"[green]done[/] in {st.seconds:.1f} s — {st.note}")

    def follow(self, job_id: str, label: str, timeout: float = 1800) -> dict[str, Any]:  # noqa: C901
        deadline = time.monotonic() + timeout
        with Progress(TextColumn(f"[bold]{label}"), BarColumn(), TextColumn("{task.fields[msg]}"),
                      TimeElapsedColumn(), console=self.console, transient=True) as bar:
            task = bar.add_task(label, total=None, msg="")
            while True:
                status = jobs.read_status(job_id)
                bar.update(task, total=status.get("total"), completed=status.get("step") or 0,
                           msg=str(status.get("message") or status["state"])[:70])
                if status["state"] in jobs.FINAL:
                    break
                if time.monotonic() > deadline:
                    jobs.cancel(job_id)
                    raise JobError(f"{label} ran past {timeout:.0f} s and was cancelled.")
                time.sleep(0.5)
        if status["state"] != "succeeded":
            tail = "\n".join(status.get("log_tail") or [])
            raise JobError(f"{label} {status['state']}: {status.get('error')}\n{tail}",
                           fix=f"See {status['run_dir']}/job.log")
        return status

    def local_llm(self) -> str:
        """Start (once) llama.cpp's OpenAI-compatible server on the embedded GGUF; return its api_base."""
        if self.server is None:
            from specialize.export.serving import start_server

            log = self.ws / self.out / "llama-server.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            proc, api_base = start_server(embedded_gguf_path(), alias=TEACHER_ALIAS, n_ctx=4096, log_file=log,
                                          n_threads=self.s.threads)
            self.server = (proc, api_base)
        return self.server[1]

    def close(self) -> None:
        if self.server is not None:
            proc = self.server[0]
            proc.terminate()
            try:
                proc.wait(10)
            except Exception:
                proc.kill()
            self.server = None

    # -- stages ---------------------------------------------------------------------------------------
    def assess(self) -> str:
        a = self.call("assess_task", monthly_api_spend_usd=3000, task_type="extraction", task_scope="single_task",
                      production_data="logs_without_feedback", quality_bar="task_metric", task_changes="rarely",
                      knowledge_gap=False, num_examples=150, latency_or_cost_pressure=True,
                      teacher_performs_well=True)
        b = self.call("estimate_break_even", monthly_requests=300_000, avg_input_tokens=450, avg_output_tokens=40,
                      frontier_model="claude-sonnet-4.5", specialist_params_b=0.135,
                      serving_monthly_usd=150, training_cost_usd=5, engineering_hours=40,
                      engineering_rate_usd=100)
        self.r["assess"], self.r["break_even"] = a.model_dump(), b.model_dump()
        route = self.r["assess"]["route"]
        return (f"route: {route}; break-even {self.r['break_even'].get('break_even_months')} months, "
                f"verdict {self.r['break_even'].get('verdict')}")

    def golden(self) -> str:
        """The golden items this demo scores: the locked set, or a category-balanced subset of it.

        The file is sorted by category, so its first N rows would all be billing; the subset takes the
        categories in turn instead. Written once into the demo folder and used by every evaluation.
        """
        if "golden_path" not in self.r:
            import json

            from specialize.data.sampling import take_in_turn
            from specialize.runtime.workspace import resolve_path

            rows = [json.loads(x) for x in resolve_path(f"{TASK}/eval/golden.jsonl", arg="golden",
                                                        must_exist=True).read_text().splitlines() if x.strip()]
            picked = take_in_turn(rows, self.s.golden_limit or len(rows),
                                  lambda row: row.get("meta", {}).get("category", ""))
            dest = self.ws / self.out / "golden-subset.jsonl"
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in picked))
            self.r["golden_path"] = rel(dest)
            self.r["golden_n"] = len(picked)
        return self.r["golden_path"]

    def _eval(self, key: str, model: str, **extra: Any) -> Any:
        res = self.call("run_eval", model=model, eval_set=self.golden(),
                        task_card=f"{TASK}/task.yaml", max_tokens=self.s.max_tokens,
                        output=f"{self.out}/evals/{key}.json", background=False, **extra)
        self.r[key] = res.model_dump()
        return res

    def baselines(self) -> str:
        plain = self._eval("base_plain", EMBEDDED_ALIAS, system_prompt=f"{TASK}/system_prompt.txt",
                           n_threads=self.s.threads)
        better = self._eval("base_prompted", EMBEDDED_ALIAS, system_prompt=f"{TASK}/better_prompt.txt",
                            n_threads=self.s.threads)
        return f"base {_fmt_metric(plain)}; base + better prompt {_fmt_metric(better)}"

    def generate(self) -> str:
        model, api_base = (self.teacher_model, None) if self.teacher_model else (f"hosted_vllm/{TEACHER_ALIAS}", self.local_llm())
        card = _task_card()
        gp = card["generation_plan"]
        res = self.call("generate_batch", model=model, api_base=api_base, task_description=card["description"],
                        schema_path=f"{TASK}/schema.json", cells=_scaled_plan(self.s.gen_rows),
                        required_edge_cases=gp.get("required_edge_cases", []),
                        negative_constraints=gp.get("negative_constraints", []),
                        seed_examples_path=f"{TASK}/seeds.jsonl", rows_per_request=4, temperature=0.8,
                        max_tokens=320, concurrency=2, timeout_s=300, out_dir=f"{self.out}/data/generated")
        if res.job_id:
            status = self.follow(res.job_id, "generate_batch")
            res = self.tools["generate_batch"].result.model_validate(status["result"])
        self.r["generate"] = res.model_dump()
        return f"{res.rows} rows parsed, {res.rejected} unparsable answers kept in {res.rejected_path}"

    def validate(self) -> str:
        merged = self.ws / self.out / "data" / "candidates.jsonl"
        merged.parent.mkdir(parents=True, exist_ok=True)
        from specialize.runtime.workspace import resolve_path

        seeds = resolve_path(f"{TASK}/seeds.jsonl", arg="seeds", must_exist=True)
        with open(merged, "w") as out:
            out.write(seeds.read_text().rstrip("\n") + "\n")
            gen = Path(self.r["generate"]["batch_path"])
            gen = gen if gen.is_absolute() else self.ws / gen
            if gen.exists():
                out.write(gen.read_text())
        evals = [f"{TASK}/eval/{n}.jsonl" for n in ("dev", "test", "golden", "adversarial")]
        res = self.call("validate_rows", input_path=str(merged), out_dir=f"{self.out}/data/validated",
                        expected_format="chat", schema_path=f"{TASK}/schema.json", eval_sets=evals,
                        plan_path=f"{TASK}/task.yaml", background=None) if _accepts(
            self.tools["validate_rows"], "background") else self.call(
            "validate_rows", input_path=str(merged), out_dir=f"{self.out}/data/validated", expected_format="chat",
            schema_path=f"{TASK}/schema.json", eval_sets=evals, plan_path=f"{TASK}/task.yaml")
        if res.job_id:
            status = self.follow(res.job_id, "validate_rows")
            res = self.tools["validate_rows"].result.model_validate(status["result"])
        self.r["validate"] = res.model_dump()
        gates = ", ".join(f"{k} {v}" for k, v in sorted(res.by_gate.items(), key=lambda kv: -kv[1])[:5])
        return f"{res.accepted} accepted / {res.rejected} rejected of {res.total} ({gates})"

    def split(self) -> str:
        res = self.call("split_dataset", input_path=self.r["validate"]["accepted_path"],
                        out_dir=f"{self.out}/data/splits", golden_path=f"{TASK}/eval/golden.jsonl", seed=0)
        self.r["split"] = res.model_dump()
        return f"train {res.counts.get('train')} / dev {res.counts.get('dev')} / test {res.counts.get('test')}"

    def train(self) -> str:
        split = self.r["split"]["paths"]
        handle = self.call("train_qlora", dataset=split["train"], eval_dataset=split.get("dev"),
                           base_model=EMBEDDED_ALIAS, label="demo",
                           overrides={"max_steps": self.s.train_steps, "max_seq_length": 256,
                                      "per_device_train_batch_size": self.s.train_batch,
                                      "gradient_accumulation_steps": 1, "early_stopping": False,
                                      "learning_rate": 6e-4, "eval_steps": self.s.train_steps,
                                      "save_steps": max(2, self.s.train_steps // 2), "packing": False})
        status = self.follow(handle.job_id, "train_qlora")
        self.r["train"] = dict(status["result"], run_dir=status["run_dir"])
        m = self.r["train"].get("metrics", {})
        return (f"{self.r['train']['method']['name']}: loss {m.get('train_loss_first')} -> {m.get('train_loss_last')}"
                f" in {m.get('steps')} steps, {m.get('tokens_per_second')} tokens/s")

    def eval_tuned(self) -> str:
        t = self.r["train"]
        res = self._eval("tuned", t["base_model_path"], adapter=str(Path(t["run_dir"]) / t.get("adapter_dir", "adapter")))
        return f"fine-tuned {_fmt_metric(res)}"

    def judge(self) -> str:
        model, api_base = (self.judge_model, None) if self.judge_model else (f"hosted_vllm/{TEACHER_ALIAS}", self.local_llm())
        subset = [self._first_items(self.r[k]["results_path"], self.s.judge_items, k)
                  for k in ("tuned", "base_plain")]
        res = self.call("run_pairwise_judge", responses=subset,
                        names=["fine-tuned", "base"], judge_model=model, api_base=api_base,
                        rubric="customer_support", task="Triage a support ticket into a JSON object.",
                        concurrency=2, max_tokens=128, output_dir=f"{self.out}/judge", background=False,
                        retries=0 if not self.judge_model else 2)
        self.r["judge"] = res.model_dump()
        pair = (self.r["judge"]["pairs"] or [{}])[0]
        return (f"win rate (ties half) {pair.get('win_rate_ties_half')} [95% CI {pair.get('ci_low')}, "
                f"{pair.get('ci_high')}], position consistency {pair.get('position_consistency')}")

    def _first_items(self, results_path: str, n: int, key: str) -> str:
        """A copy of a run_eval results file cut to its first n items (the judge is the slowest local stage)."""
        import json

        src = Path(results_path)
        src = src if src.is_absolute() else self.ws / src
        doc = json.loads(src.read_text())
        doc["examples"] = doc["examples"][:n]
        dest = self.ws / self.out / "judge" / f"{key}-first{n}.json"
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(json.dumps(doc))
        return rel(dest)

    def export(self) -> str:
        t = self.r["train"]
        handle = self.call("export_gguf", source=t.get("run_dir") or t["job_id"], quants=self.s.quants,
                           golden_path=self.golden(),
                           max_new_tokens=self.s.max_tokens,
                           system_prompt=None, task_description="Support-ticket triage to JSON (demo).",
                           eval_reports=[self.r["tuned"]["results_path"], self.r["judge"].get("judgments_path")
                                         or self.r["tuned"]["results_path"]])
        self.r["export"] = {"error": "not finished", "job_id": handle.job_id}
        status = self.follow(handle.job_id, "export_gguf")
        self.r["export"] = status["result"]
        rec = self.r["export"].get("recommended") or self.r["export"].get("recommendation")
        return f"files: {', '.join(Path(f).name for f in _gguf_files(self.r['export']))}; recommended {rec}"

    def gate(self) -> str:
        res = self.call("release_gate", candidate=self.r["tuned"]["results_path"],
                        current=self.r["base_plain"]["results_path"])
        self.r["gate"] = res.model_dump()
        return f"decision: {res.decision}"

    def report(self) -> str:
        from specialize.demo.report import write_report

        path = write_report(self)
        self.r["report_path"] = str(path)
        return f"report at {rel(path)}"

    def run(self) -> Path:
        plan = [("Assess the task and the economics", self.assess),
                ("Baselines: the base model, plain and with a better prompt", self.baselines),
                ("generate_batch with the local teacher", self.generate),
                ("validate_rows, decontaminated against every eval set", self.validate),
                ("split_dataset (golden set locked)", self.split),
                ("train_qlora", self.train),
                ("run_eval on the fine-tuned model", self.eval_tuned),
                ("run_pairwise_judge: fine-tuned against base", self.judge),
                ("export_gguf and the quant ladder", self.export),
                ("release_gate", self.gate),
                ("report and model card", self.report)]
        try:
            for name, fn in plan:
                self.stage(name, fn, finding=fn in (self.judge, self.export))
        finally:
            self.close()
        return Path(self.r["report_path"])


def _accepts(spec: Any, field_name: str) -> bool:
    return field_name in spec.params.model_fields


def _fmt_metric(res: Any) -> str:
    data = res.model_dump() if hasattr(res, "model_dump") else res
    name = data.get("primary_metric")
    metric = (data.get("metrics") or {}).get(name) if name else None
    if isinstance(metric, dict):
        lo, hi = metric.get("ci_low"), metric.get("ci_high")
        return f"{name} {metric.get('value')} (95% CI {lo}-{hi})"
    return f"{name} {metric}"


def _scaled_plan(total: int, rows_per_request: int = 4) -> list[dict[str, Any]]:
    """One cell per category (difficulties taken in turn), sized so every request asks for full rows.

    The task card's plan has 24 small cells; asked of a local CPU teacher that is 24 slow requests, so the demo
    keeps its categories and spreads the difficulties across them instead.
    """
    card = _task_card()
    categories = list(dict.fromkeys(c["category"] for c in card["generation_plan"]["cells"]))
    difficulties = card.get("difficulties") or ["easy", "medium", "hard"]
    per_cell = max(rows_per_request, rows_per_request * round(total / len(categories) / rows_per_request))
    cells = [{"category": cat, "difficulty": difficulties[i % len(difficulties)], "count": per_cell}
             for i, cat in enumerate(categories)]
    while sum(c["count"] for c in cells) > max(total, len(cells)) and len(cells) > 1:
        cells.pop()
    return cells


def _task_card() -> dict[str, Any]:
    import yaml

    from specialize.runtime.workspace import resolve_path

    return yaml.safe_load(resolve_path(f"{TASK}/task.yaml", arg="task", must_exist=True).read_text())


def _gguf_files(export: dict[str, Any]) -> list[str]:
    files = export.get("files") or export.get("quants") or []
    out = []
    for f in files:
        out.append(f if isinstance(f, str) else f.get("path", ""))
    return out


def run_demo(fast: bool = False) -> Path:
    import signal

    def stop(signum: int, frame: Any) -> None:  # let `finally` stop the local llama.cpp server
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    console = Console()
    demo = Demo(DemoSettings.for_mode(fast), console)
    console.print(f"[bold]specialize demo[/] — workspace {demo.ws}, outputs under {demo.out}/")
    started = time.perf_counter()
    path = demo.run()
    console.rule()
    console.print(f"Finished in {time.perf_counter() - started:.0f} s. Report: [bold]{path}[/]")
    return path
