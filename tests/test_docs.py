"""Docs that cannot drift: the generated reference pages match the code."""

from __future__ import annotations

from hmrec_cli.cli import docs_gen


def test_generated_pages_match_the_code() -> None:
    behind = docs_gen.stale()
    assert not behind, (
        f"{', '.join(p.name for p in behind)} out of date: run `.venv/bin/{docs_gen.REGENERATE}` and commit docs/"
    )


def test_the_cli_page_covers_every_command_and_the_plugins_page_every_built_in() -> None:
    from hmrec_cli.registry import built_in

    cli, plugins = docs_gen.cli_page(), docs_gen.plugins_page()
    for words in ("hmrec doctor", "hmrec data weeks", "hmrec cache ls", "hmrec plugins show"):
        assert f"## `{words}`" in cli
    assert "HMREC_CACHE" in cli and "HMREC_DATA" in cli
    for plugin in built_in():
        assert f"### `{plugin.name}`" in plugins


def test_the_plugin_contract_page_names_every_hook_and_field() -> None:
    """A hook or field added to the plugin API without a word on docs/plugin-contract.md fails here."""
    import dataclasses

    from hmrec_cli import plugin_api

    page = (docs_gen.DOCS / "plugin-contract.md").read_text()
    names = {"CANDIDATE_SCHEMA", "Context", "RunSettings", "RankingWeek", "Retriever", "Ranker", "Plugin"}
    for cls in (plugin_api.Retriever, plugin_api.Ranker):
        names |= set(cls.__abstractmethods__)
    names |= {a for a in vars(plugin_api.Plugin) if not a.startswith("_")}
    for cls in (plugin_api.Context, plugin_api.RunSettings, plugin_api.RankingWeek):
        names |= {f.name for f in dataclasses.fields(cls)}
    missing = sorted(n for n in names if f"`{n}" not in page)
    assert not missing, f"docs/plugin-contract.md does not mention {missing}"
