"""The core of reckon: configuration, the workspace, snapshots, the audit's inputs, the
incremental protocol and the engine's steps. It never imports what sits on it (reports,
the simulator, pipelines, the CLI): `lint-imports` checks it."""
