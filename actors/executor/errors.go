package executor

import "errors"

// Errors of the executor and its workspaces. Each means nothing was
// written.
var (
	// ErrInvalidPath: a workspace file path that is empty, absolute,
	// climbs out (".."), is not clean ("a//b", "./a"), holds a NUL or a
	// control character, is too long or too deep, or is both a file and
	// the directory of another file.
	ErrInvalidPath = errors.New("invalid workspace path")
	// ErrWorkspaceTooLarge: too many files, a file too large, or too many
	// bytes in all.
	ErrWorkspaceTooLarge = errors.New("workspace too large")
	// ErrWorkspaceExists: the agent already has a workspace; it is created
	// once, with the agent, and persists between executions.
	ErrWorkspaceExists = errors.New("workspace already exists")
	// ErrNoWorkspace: the agent has no workspace; its executions cannot
	// start (they end as failed).
	ErrNoWorkspace = errors.New("no workspace")
	// ErrNoCommand: neither the agent's record nor the executor's
	// configuration names a program to run.
	ErrNoCommand = errors.New("no program command")
)

// ErrRunnerLost is what a Runner returns when it lost the program it was
// running without knowing how it ended: the worker that ran it died or was
// cut off (package work). It is not a failure of the agent's: the
// execution runs again at once, as its next attempt, with its lease
// renewed and a new token, under the rules of a run again after a crash
// (AttemptsMax, then interrupted). A Runner returns it only once the lost
// program can no longer run (see package work for how it knows).
var ErrRunnerLost = errors.New("program lost by its runner")
