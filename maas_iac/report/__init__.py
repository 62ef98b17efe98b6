"""Previews as data: engine step events → per-model changes → text, JSON and Markdown.

Stages, each in its own module: :mod:`~maas_iac.report.steps` folds the Automation API's
step events into one step per resource; :mod:`~maas_iac.report.changes` groups them by model
and classifies each change (``destructive``, ``rolling``, ``new``, ``in place``);
:mod:`~maas_iac.report.render` turns that plain data into text, JSON or a pull-request card;
:mod:`~maas_iac.report.lookups` answers what the events cannot (commit subjects, registry
cache hits, bytes to push).
"""

from maas_iac.report.changes import (
    CLASSES, ImageChange, Lookups, ModelChange, OtherChanges, PreviewReport, ResourceChange, TopicChange,
    build_report,
)
from maas_iac.report.render import human_bytes, render_json, render_markdown, render_text
from maas_iac.report.steps import ResourceStep, StepCollector, resource_steps, urn_name

__all__ = [
    "CLASSES", "ImageChange", "Lookups", "ModelChange", "OtherChanges", "PreviewReport", "ResourceChange",
    "ResourceStep", "StepCollector", "TopicChange", "build_report", "human_bytes", "render_json",
    "render_markdown", "render_text", "resource_steps", "urn_name",
]
