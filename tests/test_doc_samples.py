"""Every code sample of the documentation is executed (or, for output, compared): the
rules are in tests/docsamples.py; a block that matches none fails here."""

from __future__ import annotations

import base64
import copy
import html
import inspect
import io
import json
import re
import sys
import types
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import django
import pytest
import requests
from django.conf import settings as django_settings
from django.contrib.admin import AdminSite
from django.core.checks import run_checks
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import connection
from django.db.migrations.writer import MigrationWriter
from django.db.models import FileField, Model
from django.template import Context, Template
from django.test import override_settings
from django.utils.module_loading import import_string

from django_alioss.emulator import Emulator
from django_alioss.emulator.emulator import bucket_policy
from django_alioss.emulator.storages import (
    STATIC_KEYS,
    emulator_options,
    reset_storage_cache,
)
from django_alioss.options import OPTIONS
from django_alioss.storage import OSSStorage

from .docsample_runs import (
    SCENARIOS,
    alioss_cors_set,
    check_synopsis,
    collectstatic_rerun,
    run_block,
    run_command,
    synopsis_lines,
)
from .docsamples import (
    ROOT,
    RULES,
    Sample,
    all_samples,
    commands,
    is_subsequence,
    normalise,
    of_rule,
    page_settings,
    parse,
)
from .plugin.project import make_project

OSS = "django_alioss.storage.OSSStorage"
DEFAULT_STORAGES = {
    "default": {"BACKEND": OSS, "OPTIONS": {"location": "media"}},
    "staticfiles": {"BACKEND": "django_alioss.storage.OSSManifestStaticStorage",
                    "OPTIONS": {"location": "static", "default_acl": "public-read"}},
}
#: Modules a sample may need that only the docs extra installs (scripts/docs runs them).
DOCS_EXTRA_MODULES = {"alibabacloud_oss_v2": "alibabacloud-oss-v2"}


def samples(rule: str) -> Any:
    """``parametrize`` arguments: the samples of ``rule``, named by page and line."""
    found = of_rule(rule)
    assert found, f"no sample uses the rule {rule!r}"
    return pytest.mark.parametrize("sample", found, ids=[s.id for s in found])


def test_every_code_block_matches_a_rule() -> None:
    unmatched = [f"{s.id} ({s.lang or 'no language'}, rule {s.rule or 'none'})"
                 for s in all_samples() if not s.matched]
    assert not unmatched, ("code blocks matching no rule of tests/docsamples.py (name one "
                           f"with <!-- sample: RULE -->): {unmatched}")


def test_every_rule_has_a_test() -> None:
    rules = {rule for names in RULES.values() for rule in names if rule}
    tested = {name.removeprefix("test_").removesuffix("_sample").replace("_", "-")
              for name in globals() if name.startswith("test_") and name.endswith("_sample")}
    assert rules <= tested, rules - tested


# --- settings, usage, models ---------------------------------------------------------------
def exec_settings(sample: Sample, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The upper-case names a settings sample defines (``env=`` variables set first)."""
    for pair in filter(None, sample.arg("env").split(",")):
        name, _, value = pair.partition(":")
        monkeypatch.setenv(name, value)
    namespace: dict[str, Any] = {"INSTALLED_APPS": list(django_settings.INSTALLED_APPS)}
    exec(compile(sample.text, sample.id, "exec"), namespace)
    return {name: value for name, value in namespace.items() if name.isupper()}


def apply_settings(values: dict[str, Any], settings: Any, alioss_storages: Any,
                   stack: ExitStack, aliases: set[str] | frozenset[str] = frozenset()) -> None:
    """Use the sample's STORAGES (plus a media storage for each of ``aliases`` it lacks)
    and ALIOSS_* settings, pointed at the emulator (aliases with CDN URL authentication at
    an emulator whose CDN edge has their type and key)."""
    for name, value in values.items():
        if name.startswith("ALIOSS_"):
            setattr(settings, name, value)
    configured = copy.deepcopy(values.get("STORAGES", DEFAULT_STORAGES))
    for alias in sorted(set(aliases) - set(configured)):
        configured[alias] = {"BACKEND": OSS, "OPTIONS": {"location": alias}}
    settings.STORAGES = configured
    alioss_storages.apply()
    changed = copy.deepcopy(settings.STORAGES)
    for alias, config in values.get("STORAGES", {}).items():
        given = config.get("OPTIONS") or {}
        if given.get("cdn_auth_type"):
            edge = stack.enter_context(Emulator(
                cdn_auth_type=given["cdn_auth_type"], cdn_auth_key=given.get("cdn_auth_key"),
                cdn_auth_ttl=given.get("cdn_auth_ttl", 1800)))
            changed[alias]["OPTIONS"].update(emulator_options(edge, STATIC_KEYS),
                                             **edge.cdn_options())
    settings.STORAGES = changed
    reset_storage_cache(changed if django.VERSION < (5, 1) else None)


def clear_locations(alioss_storages: Any) -> None:
    """Remove what earlier runs left under each alias's location (samples save fixed names)."""
    emulator = alioss_storages.emulator
    for options in alioss_storages.options.values():
        if options.get("location"):
            prefix = options["location"].strip("/") + "/"
            for key in emulator.store.list_keys(emulator.bucket_name, prefix):
                emulator.store.delete_object(emulator.bucket_name, key)


@samples("settings")
def test_settings_sample(sample: Sample, settings: Any, alioss_storages: Any,
                         monkeypatch: pytest.MonkeyPatch) -> None:
    values = exec_settings(sample, monkeypatch)
    apps = values["INSTALLED_APPS"]
    assert "django_alioss" in apps
    if "django.contrib.staticfiles" in apps:
        assert apps.index("django_alioss") < apps.index("django.contrib.staticfiles")
    monkeypatch.setenv("ALIOSS_ENDPOINT", "https://oss-cn-hangzhou.aliyuncs.com")
    monkeypatch.setenv("ALIOSS_BUCKET_NAME", "my-bucket")
    as_written = {k: v for k, v in values.items() if k == "STORAGES" or k.startswith("ALIOSS_")}
    with override_settings(**as_written):
        serious = [m for m in run_checks(tags=["django_alioss"]) if m.is_serious()]
    assert not serious, serious
    with ExitStack() as stack:
        apply_settings(values, settings, alioss_storages, stack)
        for alias, config in settings.STORAGES.items():
            if config["BACKEND"].startswith("django_alioss."):
                round_trip(storages[alias])


def round_trip(storage: OSSStorage) -> None:
    """Save, read, fetch the URL of and delete one file."""
    name = storage.save("doc-samples/probe.txt", ContentFile(b"from a doc sample"))
    with storage.open(name) as handle:
        assert handle.read() == b"from a doc sample"
    with urlopen(OSSStorage.url(storage, name), timeout=30) as response:  # no manifest
        assert response.read() == b"from a doc sample"
    storage.delete(name)
    assert not storage.exists(name)


@samples("usage")
def test_usage_sample(sample: Sample, settings: Any, alioss_storages: Any,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    source = page_settings(sample)
    values = exec_settings(source, monkeypatch) if source else {}
    models = page_models(sample)
    aliases = {alias for m in models for alias in re.findall(r'storages\["(\w+)"\]', m.text)}
    with ExitStack() as stack:
        apply_settings(values, settings, alioss_storages, stack, aliases)
        clear_locations(alioss_storages)
        namespace = {"__name__": "doc_sample", "storage": storages["default"]}
        for models_sample in models:  # the page's models, by name
            namespace.update(vars(stack.enter_context(models_module(models_sample))))
        settings.DEBUG = True  # static URLs without a collected manifest
        site = AdminSite(name="doc_sample")  # @admin.register registers here
        monkeypatch.setattr("django.contrib.admin.sites.site", site)
        exec(compile(sample.text, sample.id, "exec"), namespace)
        for model_admin in site._registry.values():
            form = model_admin.get_form(logged_in_request())()
            assert "direct_upload.js" in str(form.media), form.media
        if sample.arg("call"):
            call_view(namespace[sample.arg("call")], settings)


def page_models(sample: Sample) -> list[Sample]:
    return [other for other in parse(ROOT / sample.page)
            if other.rule == "models" and other.line < sample.line]


def logged_in_request() -> Any:
    from django.test import RequestFactory

    request = RequestFactory().get("/upload/")
    request.user = types.SimpleNamespace(is_authenticated=True, pk=1, is_active=True,
                                         is_staff=True, has_perm=lambda *args: True)
    return request


def call_view(view: Any, settings: Any) -> None:
    """GET the view as a logged-in user; its template ``upload.html`` renders the form."""
    settings.TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates",
                           "OPTIONS": {"loaders": [
                               ("django.template.loaders.locmem.Loader",
                                {"upload.html": "{{ form.media }}{{ form }}"}),
                               "django.template.loaders.app_directories.Loader"]}}]
    response = view(logged_in_request())
    assert response.status_code == 200
    assert b"direct_upload.js" in response.content, response.content[:2000]


@contextmanager
def models_module(sample: Sample) -> Iterator[types.ModuleType]:
    """The sample exec'd as a module of the suite's test app; unregistered afterwards."""
    from django.apps import apps

    name = f"tests.testapp.doc_sample_{sample.line}"
    module = types.ModuleType(name)
    module.__file__ = str(ROOT / "tests" / "testapp" / f"doc_sample_{sample.line}.py")
    sys.modules[name] = module
    try:
        exec(compile(sample.text, sample.id, "exec"), module.__dict__)
        yield module
    finally:
        del sys.modules[name]
        for model in defined_models(module):
            apps.all_models["testapp"].pop(model._meta.model_name, None)
        apps.clear_cache()


def defined_models(module: types.ModuleType) -> list[type[Model]]:
    return [value for value in vars(module).values() if isinstance(value, type)
            and issubclass(value, Model) and value.__module__ == module.__name__]


@samples("models")
@pytest.mark.django_db(transaction=True)
def test_models_sample(sample: Sample, settings: Any, alioss_storages: Any) -> None:
    aliases = set(re.findall(r'storages\["(\w+)"\]', sample.text)) | {"default"}
    settings.STORAGES = {alias: {"BACKEND": OSS, "OPTIONS": {"location": alias}}
                         for alias in aliases}
    alioss_storages.apply()
    with models_module(sample) as module:
        models = defined_models(module)
        assert models, f"{sample.id} defines no model"
        for model in models:
            save_a_file_through(model, alioss_storages.emulator)


def save_a_file_through(model: type[Model], emulator: Emulator) -> None:
    """Its file fields serialise for a migration without configuration; a file saved
    through each lands in the emulator."""
    fields = [f for f in model._meta.get_fields() if isinstance(f, FileField)]
    assert fields, f"{model.__name__} has no file field"
    for field in fields:
        written, _ = MigrationWriter.serialize(field)
        assert "bucket" not in written and "secret" not in written, written
    with connection.schema_editor() as editor:
        editor.create_model(model)
    try:
        instance = model()
        for field in fields:
            getattr(instance, field.name).save("doc.pdf", ContentFile(b"%PDF"), save=False)
            stored = getattr(instance, field.name)
            key = stored.storage.object_key(stored.name)
            assert emulator.store.get_object_bytes(emulator.bucket_name, key) == b"%PDF"
        instance.save()
    finally:
        with connection.schema_editor() as editor:
            editor.delete_model(model)


# --- scripts and user test suites ------------------------------------------------------------
def exec_script(sample: Sample) -> None:
    try:
        exec(compile(sample.text, sample.id, "exec"), {"__name__": "doc_sample"})
    except ModuleNotFoundError as exc:
        if exc.name not in DOCS_EXTRA_MODULES:
            raise
        docs_extra = "\n".join(re.findall(r"^docs = \[\n(.*?)^\]", (ROOT / "pyproject.toml")
                                          .read_text(), re.M | re.S))
        assert f'"{DOCS_EXTRA_MODULES[exc.name]}' in docs_extra
        pytest.skip(f"{sample.id} needs {DOCS_EXTRA_MODULES[exc.name]}, in the docs extra: "
                    "scripts/docs (a CI step) runs it")


@samples("script")
def test_script_sample(sample: Sample) -> None:
    exec_script(sample)


@samples("env-script")
def test_env_script_sample(sample: Sample, alioss_env: dict[str, str]) -> None:
    exec_script(sample)


def run_user_project(pytester: pytest.Pytester, tests: str, ini: str = "") -> Any:
    """Run ``tests`` in a user's project whose OPTIONS name real OSS (its own settings)."""
    pytester._monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    make_project(pytester, tests=tests)
    if ini:
        pytester.makeini("[pytest]\nDJANGO_SETTINGS_MODULE = realproj.settings\n"
                         "django_find_project = false\npythonpath = .\n"
                         + ini.split("[pytest]\n", 1)[1])
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    assert "NETWORK TOUCHED" not in result.stdout.str(), result.stdout.str()
    return result


@samples("pytest")
def test_pytest_sample(sample: Sample, pytester: pytest.Pytester) -> None:
    tests = len(re.findall(r"^def test_", sample.text, re.M))
    run_user_project(pytester, sample.text).assert_outcomes(passed=tests)


@samples("ini")
def test_ini_sample(sample: Sample, pytester: pytest.Pytester) -> None:
    assert sample.args == ("pytest",)
    tests = """
from urllib.request import urlopen

from django.core.files.base import ContentFile

from django_alioss.storage import OSSStorage


def test_the_session_emulator_has_its_cdn_edge(alioss_emulator):
    emu = alioss_emulator
    storage = OSSStorage(endpoint=emu.endpoint, bucket_name=emu.bucket_name, region=emu.region,
                         access_key_id=emu.access_key_id,
                         access_key_secret=emu.access_key_secret, **emu.cdn_options())
    name = storage.save("edge.txt", ContentFile(b"edge"))
    assert urlopen(storage.url(name)).read() == b"edge"
"""
    run_user_project(pytester, tests, ini=sample.text).assert_outcomes(passed=1)


# --- templates -------------------------------------------------------------------------------
def jpeg(width: int = 64, height: int = 48) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), "teal").save(out, "JPEG")
    return out.getvalue()


@samples("django")
def test_django_sample(sample: Sample, settings: Any, alioss_storages: Any,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.testapp.models import Photo

    settings.TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates",
                           "APP_DIRS": True}]
    source = page_settings(sample)
    with ExitStack() as stack:
        apply_settings(exec_settings(source, monkeypatch) if source else {}, settings,
                       alioss_storages, stack)
        storage = storages["default"]
        photo = Photo()
        photo.image.storage = storage
        photo.image.name = storage.save("photos/doc-sample.jpg", ContentFile(jpeg()))
        form = storage.generate_presigned_post("inbox/${filename}")
        page = Template(sample.text).render(Context({"photo": photo, "form": form}))
    checked = 0
    for url in re.findall(r'<img src="([^"]+)"', page):
        with urlopen(html.unescape(url), timeout=30) as response:
            assert response.headers["Content-Type"].startswith("image/"), url
            checked += 1
    for action in re.findall(r'<form action="([^"]+)"', page):
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page))
        answer = requests.post(html.unescape(action), timeout=30,
                               data={k: html.unescape(v) for k, v in fields.items()},
                               files={"file": ("a.txt", b"from the form", "text/plain")})
        assert answer.status_code == 204, answer.text
        assert storage.open("inbox/a.txt").read() == b"from the form"
        checked += 1
    assert checked, f"{sample.id}: nothing to fetch in {page!r}"


# --- data ------------------------------------------------------------------------------------
def service_account_subject(emu: Emulator) -> str:
    payload = Path(emu.oidc_token_file).read_text().split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"])


def filled_in(text: str, emu: Emulator) -> dict[str, Any]:
    """A policy sample with its placeholders replaced by the emulator's values."""
    _, _, namespace, account = service_account_subject(emu).split(":")
    values = {"<account-id>": emu.iam.account_id,
              "<cluster_id>": emu.oidc_provider_arn.rsplit("ack-rrsa-", 1)[1],
              "<the cluster's OIDC issuer URL>": emu.issuer_url,
              "<namespace>": namespace, "<service-account>": account,
              "my-bucket": emu.bucket_name}
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return dict(json.loads(text))


def rrsa_storage(emu: Emulator, role_arn: str, **options: Any) -> OSSStorage:
    return OSSStorage(endpoint=emu.endpoint, bucket_name=emu.bucket_name, region=emu.region,
                      role_arn=role_arn, oidc_provider_arn=emu.oidc_provider_arn,
                      oidc_token_file=emu.oidc_token_file, sts_endpoint=emu.sts_endpoint,
                      rrsa_fallback=False, **options)


@samples("json")
def test_json_sample(sample: Sample, alioss_emulator: Emulator) -> None:
    document = json.loads(sample.text)
    emu = alioss_emulator
    emu.token_file.write()
    if sample.args == ("ram-trust-policy",):
        role = emu.iam.add_role("doc-trusted", filled_in(sample.text, emu),
                                [bucket_policy(emu.bucket_name)])
        round_trip(rrsa_storage(emu, role.arn, location="doc-trust"))
    elif sample.args == ("ram-policy",):
        role = emu.iam.add_role("doc-granted", emu.role.trust_policy,
                                [filled_in(sample.text, emu)])
        storage = rrsa_storage(emu, role.arn, location="doc-policy",
                               multipart_threshold=102400, multipart_chunksize=102400)
        round_trip(storage)
        name = storage.save("multipart.bin", ContentFile(b"\x01" * 250_000))
        assert storage.size(name) == 250_000 and storage.listdir("")[1] == ["multipart.bin"]
        storage.delete(name)
    else:
        assert sample.args == () and isinstance(document, (dict, list))


@samples("pod-env")
def test_pod_env_sample(sample: Sample) -> None:
    variables = re.findall(r'^\s*- \{name: (\w+), value: "([^"]*)"\}', sample.text, re.M)
    assert len(variables) == sample.text.count("- {name:")
    settings_names = {option.setting_name: option for option in OPTIONS.values()}
    credentials_code = "".join(p.read_text() for p in
                               (ROOT / "django_alioss" / "credentials").glob("*.py"))
    for name, value in variables:
        if name in settings_names:
            settings_names[name].parse(value, f"environment variable {name}")
        else:
            assert name.startswith("ALIBABA_CLOUD_") and f'"{name}"' in credentials_code, name


@samples("signature")
def test_signature_sample(sample: Sample) -> None:
    (path,) = sample.args
    owner, _, name = path.rpartition(".")
    function = getattr(import_string(owner), name)
    parameters = [p.replace(annotation=inspect.Parameter.empty)  # shown without types
                  for p in list(inspect.signature(function).parameters.values())[1:]]  # no self
    assert sample.text.strip() == f"{function.__name__}{inspect.Signature(parameters)}"


# --- shell -----------------------------------------------------------------------------------
@samples("commands")
def test_commands_sample(sample: Sample, alioss_storages: Any, settings: Any,
                         tmp_path: Path) -> None:
    settings.STORAGES = copy.deepcopy(DEFAULT_STORAGES)
    settings.DEBUG = True  # the emulator speaks http
    alioss_storages.apply()
    ran = [run_command(command, tmp_path) for command in commands(sample.text)]
    assert ran, f"{sample.id} has no command"


@samples("synopsis")
def test_synopsis_sample(sample: Sample) -> None:
    lines = synopsis_lines(sample.text)
    assert lines
    for line in lines:
        check_synopsis(line)


@samples("run")
def test_run_sample(sample: Sample, tmp_path: Path) -> None:
    run_block(sample.text, tmp_path)


# --- output ----------------------------------------------------------------------------------
@samples("output")
def test_output_sample(sample: Sample) -> None:
    """Illustrative output: nothing runs; it must not be a command or code in disguise."""
    assert sample.args == () and sample.lang == "text"
    assert not re.search(r"^\$ |^>>> ", sample.text, re.M), sample.text


def documented(sample: Sample) -> list[str]:
    """The sample's lines to find in real output (``$ command`` prompt lines left out)."""
    return normalise("\n".join(line for line in sample.text.splitlines()
                               if not line.startswith("$ ")))


@samples("real-output")
def test_real_output_sample(sample: Sample, alioss_emulator: Emulator,
                            monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                            request: pytest.FixtureRequest) -> None:
    (scenario,) = sample.args
    if scenario == "collectstatic-rerun":
        output = collectstatic_rerun(alioss_emulator, monkeypatch, tmp_path / "static")
    elif scenario == "demo-banner":
        output = demo_banner(tmp_path, request)
    elif scenario == "alioss_cors-set":
        output = alioss_cors_set(tmp_path)
    else:
        output = SCENARIOS[scenario](alioss_emulator, monkeypatch)
    wanted, real = documented(sample), normalise(output)
    assert wanted and is_subsequence(wanted, real), (
        f"{sample.id} is not what the code prints in scenario {scenario!r}.\n"
        "documented (normalised):\n  " + "\n  ".join(wanted)
        + "\nreal (normalised):\n  " + "\n  ".join(real))


def demo_banner(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """What the one-command demo prints up to its 'Site:' line."""
    from tests.example.demo import start_demo

    demo = start_demo(tmp_path / "data", tmp_path)
    request.addfinalizer(demo.child.kill)
    assert demo.stop() == 0
    return "\n".join(demo.child.lines)
