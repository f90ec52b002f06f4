"""The Zendesk app (manifest.json, translations/, assets/ at the top level, and the zip `escalator app package`
writes) passes the Zendesk Apps Framework's rules for a package.

zcli cannot check a package offline: `zcli apps:validate` only zips the folder and posts it to a Zendesk
account (`POST /api/v2/apps/validate`, with credentials and the network; it parses nothing itself). So
`package_problems` below IS the validator: it restates the rules of Zendesk's own validator (the
`zendesk_apps_support` gem, `validations/manifest.rb` and `validations/translations.rb`) for every key the
framework knows, and Zendesk's asset guidelines for the logos (sizes read from the PNG headers). On top of
those, one rule of ours: the app needs no secure parameter (the sidebar is verified with Zendesk's signed
token, never with a secret typed into Zendesk). The tests at the end prove that each rule can fail.
"""

from __future__ import annotations

import io
import json
import re
import struct
import tomllib
import zipfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from escalator.plugin import zendesk_app
from escalator.plugin.cli import main
from escalator.plugin.demo import seed_policy_path

ROOT = Path(__file__).resolve().parent.parent
FRAMEWORK_VERSIONS = ("2.0",)
"""AppVersion::TO_BE_SERVED: the framework versions Zendesk still serves."""
LOCATIONS = {
    "support": {
        "top_bar",
        "nav_bar",
        "ticket_sidebar",
        "new_ticket_sidebar",
        "user_sidebar",
        "organization_sidebar",
        "background",
        "modal",
        "ticket_editor",
        "system_top_bar",
        "ticket_module",
    },
    "chat": {"chat_sidebar", "background"},
    "standalone_chat": {"nav_bar", "system_top_bar"},
}
"""Location.rb: the products and the locations each one has."""
PARAMETER_TYPES = {"text", "checkbox", "url", "number", "multiline", "hidden", "oauth", "mtls"}
BOOLEANS = ("requirementsOnly", "marketingOnly", "singleInstall", "signedUrls", "private")
STRINGS = ("defaultLocale", "version", "frameworkVersion", "remoteInstallationURL", "termsConditionsURL", "gaID")
LOCALE = re.compile(r"^[a-z]{2,3}(-\w{2,3})?$")
PUBLIC_APP_KEYS = ("name", "short_description", "installation_instructions", "long_description")
LOGOS = {"assets/logo.png": (320, 320), "assets/logo-small.png": (128, 128)}
"""Zendesk's asset guidelines: logo.png 320x320 (square corners), logo-small.png 128x128 with transparency."""


# --- the validator -------------------------------------------------------------------------------------------


def package_problems(files: Mapping[str, bytes]) -> list[str]:
    """Every problem of an app package (path -> content), as Zendesk's validator would word it."""
    if "manifest.json" not in files:
        return ["missing manifest.json"]
    try:
        manifest = json.loads(files["manifest.json"])
    except ValueError as error:
        return [f"manifest.json is not JSON: {error}"]
    if not isinstance(manifest, dict):
        return ["manifest.json is not a JSON object"]
    problems = [*_required(manifest), *_types(manifest), *_locale(manifest, files), *_parameters(manifest)]
    if manifest.get("requirementsOnly") or manifest.get("marketingOnly"):
        problems += [f"{key} is not allowed in a requirements-only app" for key in ("location", "frameworkVersion")]
    else:
        problems += _location(manifest, files)
        if "frameworkVersion" in manifest and manifest["frameworkVersion"] not in FRAMEWORK_VERSIONS:
            problems.append(f"frameworkVersion {manifest['frameworkVersion']!r} is not served (use 2.0)")
    problems += _translations(manifest, files)
    problems += _logos(files)
    parameters = manifest.get("parameters")
    for parameter in parameters if isinstance(parameters, list) else []:
        if parameter.get("secure"):
            problems.append(f"parameter {parameter.get('name')} is secure (this app needs no secret from Zendesk)")
    return problems


def _required(manifest: dict[str, Any]) -> list[str]:
    required = ["author", "defaultLocale"]
    if not (manifest.get("requirementsOnly") or manifest.get("marketingOnly")):
        required += ["location", "frameworkVersion"]
    missing = [key for key in required if manifest.get(key) in (None, {}, [], "")]
    return [f"Missing required field(s) in manifest: {', '.join(missing)}"] if missing else []


def _types(manifest: dict[str, Any]) -> list[str]:
    problems = [f"{key} must be true or false" for key in BOOLEANS if key in manifest and not _bool(manifest[key])]
    problems += [f"{key} must be a string" for key in STRINGS if key in manifest and not isinstance(manifest[key], str)]
    author = manifest.get("author")
    if isinstance(author, dict):
        problems += [f"author {key} must be a string" for key in ("name", "email", "url") if _not_text(author, key)]
        url = urlsplit(str(author.get("url") or ""))
        if author.get("url") is not None and not (url.scheme in ("http", "https") and url.netloc):
            problems.append(f"author url {author['url']!r} is not a valid URL")
    elif author is not None:
        problems.append("author must be an object {name, email, url}")
    if "parameters" in manifest and not isinstance(manifest["parameters"], list):
        problems.append("parameters must be an array")
    whitelist = manifest.get("domainWhitelist")
    if whitelist is not None and not (isinstance(whitelist, list) and all(isinstance(d, str) for d in whitelist)):
        problems.append("domainWhitelist must be an array of strings")
    return problems


def _bool(value: Any) -> bool:
    return value is True or value is False


def _not_text(mapping: dict[str, Any], key: str) -> bool:
    return mapping.get(key) is not None and not isinstance(mapping[key], str)


def _locale(manifest: dict[str, Any], files: Mapping[str, bytes]) -> list[str]:
    locale = manifest.get("defaultLocale")
    if not isinstance(locale, str):
        return []
    if not LOCALE.match(locale):
        return [f"defaultLocale {locale!r} is not a locale such as en or pt-br"]
    if f"translations/{locale}.json" not in files:
        return [f"missing translation file translations/{locale}.json for the default locale"]
    return []


def _parameters(manifest: dict[str, Any]) -> list[str]:
    parameters = manifest.get("parameters") or []
    if not isinstance(parameters, list):
        return []
    names = [p.get("name") for p in parameters]
    problems = [f"duplicate parameter {name}" for name in sorted({n for n in names if names.count(n) > 1})]
    for p in parameters:
        name = p.get("name")
        problems += [f"parameters.{name}.{key} must be true or false" for key in ("required", "secure") if _odd(p, key)]
        if p.get("type", "text") not in PARAMETER_TYPES:
            problems.append(f"parameter {name} has an invalid type {p.get('type')!r}")
        if p.get("type") == "hidden" and p.get("required"):
            problems.append(f"hidden parameter {name} cannot be required")
        if name == "name":
            problems.append("a parameter cannot be called name")
        if p.get("type") == "oauth" and p.get("secure"):
            problems.append("an oauth parameter cannot be secure")
    if sum(p.get("type") == "oauth" for p in parameters) > 1:
        problems.append("only one oauth parameter is allowed")
    return problems


def _odd(parameter: dict[str, Any], key: str) -> bool:
    return key in parameter and not _bool(parameter[key])


def _location(manifest: dict[str, Any], files: Mapping[str, bytes]) -> list[str]:
    location = manifest.get("location")
    if not isinstance(location, dict):
        return [] if location in (None, "", [], {}) else ["location must be an object {product: {location: {...}}}"]
    problems = []
    for product, places in location.items():
        if product not in LOCATIONS:
            problems.append(f"unknown host {product}")
            continue
        for place, options in (places or {}).items():
            if place not in LOCATIONS[product]:
                problems.append(f"invalid location {place} for {product}")
            settings = options if isinstance(options, dict) else {"url": options}
            url = settings.get("url")
            if isinstance(url, str) and url:
                if not _location_url_ok(url, files):
                    problems.append(
                        f"{url} is an invalid location URI, refers to a missing asset, or does not use HTTPS"
                    )
            elif settings.get("autoLoad", True):
                problems.append(f"location {place} has a blank URI")
            if "flexible" in settings and not _bool(settings["flexible"]):
                problems.append(f"location {place}: flexible must be true or false")
    return problems


def _location_url_ok(url: str, files: Mapping[str, bytes]) -> bool:
    if "{{setting." in url:
        return True  # filled in from the installation's settings: Zendesk does not check it either
    parts = urlsplit(url)
    if parts.scheme:
        return parts.scheme == "https" or parts.hostname == "localhost"
    return parts.path.startswith("assets/") and parts.path in files


def _translations(manifest: dict[str, Any], files: Mapping[str, bytes]) -> list[str]:
    problems = []
    for path, content in sorted(files.items()):
        match = re.fullmatch(r"translations/(.*)\.json", path)
        if match is None:
            continue
        if not LOCALE.match(match[1]):
            problems.append(f"{path}: not a valid locale")
        try:
            data = json.loads(content)
        except ValueError as error:
            problems.append(f"{path} is not JSON: {error}")
            continue
        if not isinstance(data, dict):
            problems.append(f"{path} is not a JSON object")
            continue
        app = data.get("app") if isinstance(data.get("app"), dict) else {}
        if path == "translations/en.json":
            keys = {"short_description" if key == "description" else key for key in app}
            wanted = ("name",) if manifest.get("private", True) else PUBLIC_APP_KEYS
            problems += [f"{path}: missing required key app.{key}" for key in wanted if key not in keys]
        for name, labels in (app.get("parameters") or {}).items():
            if not isinstance(labels, dict) or not labels.get("label"):
                problems.append(f"{path}: app.parameters.{name} needs a label")
    return problems


def png_header(content: bytes) -> tuple[int, int, int]:
    """(width, height, colour type) from a PNG's IHDR chunk, which the format puts first."""
    if content[:8] != b"\x89PNG\r\n\x1a\n" or content[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    width, height, _, colour = struct.unpack(">IIBB", content[16:26])
    return width, height, colour


def _logos(files: Mapping[str, bytes]) -> list[str]:
    problems = []
    for path, size in LOGOS.items():
        if path not in files:
            problems.append(f"missing {path}")
            continue
        try:
            width, height, colour = png_header(files[path])
        except ValueError:
            problems.append(f"{path} is not a PNG")
            continue
        if (width, height) != size:
            problems.append(f"{path} is {width}x{height}, not {size[0]}x{size[1]}")
        if path.endswith("logo-small.png") and colour not in (4, 6) and b"tRNS" not in files[path]:
            problems.append(f"{path} has no transparency")
    return problems


# --- reading PNGs back (the committed logos are the generator's, pixel for pixel) -----------------------------


def png_pixels(content: bytes) -> tuple[int, int, bytes]:
    """Decode an 8-bit RGBA PNG (every chunk's CRC checked, every row filter undone) to raw RGBA bytes."""
    width, height, colour = png_header(content)
    assert colour == 6, "RGBA"
    position, data = 8, b""
    while position < len(content):
        (length,) = struct.unpack(">I", content[position : position + 4])
        kind = content[position + 4 : position + 8]
        chunk = content[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", content[position + 8 + length : position + 12 + length])
        assert zlib.crc32(kind + chunk) == crc, f"bad CRC in {kind!r}"
        data += chunk if kind == b"IDAT" else b""
        position += 12 + length
    raw, stride, out = zlib.decompress(data), width * 4, bytearray()
    previous = bytearray(stride)
    for row in range(height):
        kind, line = raw[row * (stride + 1)], bytearray(raw[row * (stride + 1) + 1 : (row + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - 4] if i >= 4 else 0
            up, corner = previous[i], previous[i - 4] if i >= 4 else 0
            line[i] = (line[i] + _predict(kind, left, up, corner)) & 0xFF
        out += line
        previous = line
    return width, height, bytes(out)


def _predict(kind: int, left: int, up: int, corner: int) -> int:
    if kind == 0:
        return 0
    if kind == 1:
        return left
    if kind == 2:
        return up
    if kind == 3:
        return (left + up) // 2
    guess = left + up - corner
    distances = (abs(guess - left), abs(guess - up), abs(guess - corner))
    return (left, up, corner)[distances.index(min(distances))]


# --- the top-level app -------------------------------------------------------------------------------------


def source_app() -> dict[str, bytes]:
    paths = [ROOT / "manifest.json", *ROOT.glob("translations/*.json"), *ROOT.glob("assets/*")]
    return {str(path.relative_to(ROOT)): path.read_bytes() for path in paths if path.is_file()}


def test_the_top_level_app_passes_the_framework_rules() -> None:
    files = source_app()
    assert package_problems(files) == []
    manifest = json.loads(files["manifest.json"])
    assert manifest["frameworkVersion"] == "2.0" and manifest["signedUrls"] is True
    (url,) = [options["url"] for options in manifest["location"]["support"].values()]
    assert list(manifest["location"]["support"]) == ["ticket_sidebar"]
    assert url == "{{setting.escalator_url}}/apps/zendesk/{{setting.escalator_tenant}}/sidebar"


def test_the_top_level_app_is_what_the_generator_writes(tmp_path: Path) -> None:
    """Regenerate with `python -m escalator.plugin.zendesk_app` after changing plugin/zendesk_app.py."""
    committed, generated = source_app(), zendesk_app.app_files()
    assert sorted(committed) == sorted(generated)
    for path, content in generated.items():
        if path.endswith(".png"):
            assert png_pixels(committed[path]) == png_pixels(content), path
        else:
            assert json.loads(committed[path]) == json.loads(content), path


def test_the_manifest_version_is_the_package_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert json.loads((ROOT / "manifest.json").read_text())["version"] == project["version"]


def test_the_logos_are_real_pngs_of_the_guideline_sizes() -> None:
    files = source_app()
    width, height, pixels = png_pixels(files["assets/logo.png"])
    assert (width, height) == (320, 320)
    corners = [pixels[i : i + 4] for i in (0, (width - 1) * 4, (height - 1) * width * 4, len(pixels) - 4)]
    assert all(corner[3] == 255 for corner in corners), "square, opaque corners (no rounding)"
    width, height, pixels = png_pixels(files["assets/logo-small.png"])
    assert (width, height) == (128, 128)
    alphas = {pixels[i + 3] for i in range(0, len(pixels), 4)}
    assert alphas == {0, 255}, "transparent ground, opaque mark"


# --- `escalator app package` -------------------------------------------------------------------------------


def write_config(tmp_path: Path, public_url: str, vendor: str = "zendesk") -> Path:
    auth = {"oauth_token": "t"} if vendor == "zendesk" else {"api_key": "k"}
    config = tmp_path / "escalator.json"
    config.write_text(
        json.dumps(
            {
                "public_url": public_url,
                "tenants": {
                    "acme": {
                        "vendor": vendor,
                        "subdomain": "acme",
                        "auth": auth,
                        "webhook_secret": "s",
                        "rules": str(seed_policy_path()),
                    }
                },
            }
        )
    )
    return config


def unzip(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def test_app_package_builds_a_zip_whose_manifest_passes_the_validator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ESCALATOR_CONFIG", str(write_config(tmp_path, "https://escalator.acme.example/")))
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # unreachable: packaging never needs Redis
    monkeypatch.chdir(tmp_path)
    assert main(["app", "package", "acme"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("escalator-acme-zendesk-app.zip: the Escalator app for acme")
    files = unzip(tmp_path / "escalator-acme-zendesk-app.zip")
    assert sorted(files) == ["assets/logo-small.png", "assets/logo.png", "manifest.json", "translations/en.json"]
    assert package_problems(files) == []
    manifest = json.loads(files["manifest.json"])
    sidebar = manifest["location"]["support"]["ticket_sidebar"]
    assert sidebar == {"url": "https://escalator.acme.example/apps/zendesk/acme/sidebar", "flexible": True}
    assert manifest["parameters"] == [
        {"name": "escalator_tenant", "type": "hidden", "required": False, "secure": False, "default": "acme"}
    ], "nothing for the admin to type in: the tenant is written in, hidden (install finds the installation by it)"
    labels = json.loads(files["translations/en.json"])["app"]["parameters"]
    assert set(labels) == {"escalator_tenant"}

    assert main(["app", "package", "acme", "--out", str(tmp_path / "again.zip")]) == 0
    assert (tmp_path / "again.zip").read_bytes() == (tmp_path / "escalator-acme-zendesk-app.zip").read_bytes(), (
        "the same app packs to the same bytes"
    )


@pytest.mark.parametrize(
    ("public_url", "vendor", "message"),
    [
        ("http://escalator.acme.example", "zendesk", "Zendesk loads app pages only over https"),
        ("https://escalator.acme.example", "freshdesk", "the sidebar app is for Zendesk tenants"),
    ],
)
def test_app_package_refuses_what_zendesk_could_not_load(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    public_url: str,
    vendor: str,
    message: str,
) -> None:
    monkeypatch.setenv("ESCALATOR_CONFIG", str(write_config(tmp_path, public_url, vendor)))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as refused:
        main(["app", "package", "acme"])
    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.glob("*.zip"))


# --- the validator can fail --------------------------------------------------------------------------------

Change = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Change:
    def change(files: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node = files["manifest.json"]
        for part in parents:
            node = node[part]
        if value is KeyError:
            del node[leaf]
        else:
            node[leaf] = value

    return change


def _files(change: Change) -> dict[str, bytes]:
    files: dict[str, Any] = dict(zendesk_app.app_files("acme", "https://escalator.acme.example"))
    files["manifest.json"] = json.loads(files["manifest.json"])
    files["translations/en.json"] = json.loads(files["translations/en.json"])
    change(files)
    return {
        path: json.dumps(content).encode() if isinstance(content, dict) else content for path, content in files.items()
    }


def _drop(path: str) -> Change:
    return lambda files: files.pop(path)


def _replace(path: str, content: Any) -> Change:
    return lambda files: files.__setitem__(path, content)


def _tiny_png(width: int, height: int) -> bytes:
    return zendesk_app.png(width, height, lambda x, y: (0, 0, 0, 255))


BROKEN: list[tuple[str, Change, str]] = [
    ("no location", _set("location", KeyError), "Missing required field(s) in manifest: location"),
    ("no author", _set("author", KeyError), "Missing required field(s) in manifest: author"),
    ("no framework", _set("frameworkVersion", KeyError), "Missing required field(s) in manifest: frameworkVersion"),
    ("old framework", _set("frameworkVersion", "1.0"), "frameworkVersion '1.0' is not served"),
    ("signedUrls text", _set("signedUrls", "yes"), "signedUrls must be true or false"),
    ("version number", _set("version", 1), "version must be a string"),
    ("bad author url", _set("author.url", "nowhere"), "author url 'nowhere' is not a valid URL"),
    ("bad locale", _set("defaultLocale", "English"), "defaultLocale 'English' is not a locale"),
    ("no translation", _set("defaultLocale", "fr"), "missing translation file translations/fr.json"),
    ("http location", _set("location.support.ticket_sidebar.url", "http://x.example/s"), "does not use HTTPS"),
    ("missing asset", _set("location.support.ticket_sidebar.url", "assets/nope.html"), "refers to a missing asset"),
    ("unknown location", _set("location.support.ticket_footer", {"url": "https://x.example"}), "invalid location"),
    ("unknown host", _set("location.sell", {"top_bar": {"url": "https://x.example"}}), "unknown host sell"),
    ("flexible text", _set("location.support.ticket_sidebar.flexible", "yes"), "flexible must be true or false"),
    ("parameters object", _set("parameters", {"a": 1}), "parameters must be an array"),
    (
        "secure parameter",
        _set("parameters", [{"name": "token", "type": "text", "secure": True}]),
        "parameter token is secure",
    ),
    (
        "required hidden",
        _set("parameters", [{"name": "t", "type": "hidden", "required": True}]),
        "hidden parameter t cannot be required",
    ),
    ("bad type", _set("parameters", [{"name": "t", "type": "password"}]), "invalid type 'password'"),
    ("named name", _set("parameters", [{"name": "name", "type": "text"}]), "a parameter cannot be called name"),
    ("twice", _set("parameters", [{"name": "a"}, {"name": "a"}]), "duplicate parameter a"),
    ("no app name", lambda f: f["translations/en.json"]["app"].pop("name"), "missing required key app.name"),
    (
        "public app",
        _set("private", False),
        "",  # the four public-app keys are all there: passes (checked below with one removed)
    ),
    (
        "public app without description",
        lambda f: (_set("private", False)(f), f["translations/en.json"]["app"].pop("long_description")),
        "missing required key app.long_description",
    ),
    (
        "unlabelled parameter",
        lambda f: f["translations/en.json"]["app"]["parameters"].__setitem__("x", {}),
        "app.parameters.x needs a label",
    ),
    ("translation list", _replace("translations/en.json", b"[]"), "translations/en.json is not a JSON object"),
    ("no logo", _drop("assets/logo.png"), "missing assets/logo.png"),
    ("wrong size", _replace("assets/logo.png", _tiny_png(300, 320)), "assets/logo.png is 300x320, not 320x320"),
    ("not png", _replace("assets/logo-small.png", b"GIF89a" + bytes(40)), "assets/logo-small.png is not a PNG"),
    ("no manifest", _drop("manifest.json"), "missing manifest.json"),
]


@pytest.mark.parametrize(("change", "expected"), [(c, e) for _, c, e in BROKEN], ids=[n for n, _, _ in BROKEN])
def test_the_validator_fails_each_broken_rule(change: Change, expected: str) -> None:
    problems = package_problems(_files(change))
    if expected:
        assert any(expected in problem for problem in problems), problems
    else:
        assert problems == []


def test_a_small_logo_without_transparency_is_refused() -> None:
    opaque_rgb = io.BytesIO()
    opaque_rgb.write(b"\x89PNG\r\n\x1a\n")
    header = struct.pack(">IIBBBBB", 128, 128, 8, 2, 0, 0, 0)
    opaque_rgb.write(struct.pack(">I", 13) + b"IHDR" + header + struct.pack(">I", zlib.crc32(b"IHDR" + header)))
    problems = package_problems(_files(_replace("assets/logo-small.png", opaque_rgb.getvalue())))
    assert "assets/logo-small.png has no transparency" in problems
