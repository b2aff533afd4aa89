"""Tools the agent can call: the twelve built-ins (sandboxed) and plain Python functions."""

from mamba_agents.tools._builtin import BUILTIN, as_tool, builtin_tools
from mamba_agents.tools._from_settings import (
    policy_from_settings,
    sandbox_from_settings,
    tools_from_settings,
)
from mamba_agents.tools._function_tool import RUNTIME_PARAMETERS, Tool, tool_from_function
from mamba_agents.tools._security import FilesystemSecurity, SandboxError
from mamba_agents.tools.bash import (
    BashResult,
    cap_text,
    run_bash,
    safe_environment,
    scrub_own_environment,
)
from mamba_agents.tools.filesystem import (
    DirectoryListing,
    FileEntry,
    append_file,
    copy_file,
    delete_file,
    edit_file,
    file_info,
    list_directory,
    move_file,
    read_file,
    write_file,
)
from mamba_agents.tools.permissions import (
    Decision,
    PermissionPolicy,
    Rule,
    RuleError,
    describe_rule,
    suggest_rule,
)
from mamba_agents.tools.search import GlobResult, GrepMatch, GrepResult, glob_search, grep_search

__all__ = [
    "BUILTIN",
    "RUNTIME_PARAMETERS",
    "BashResult",
    "Decision",
    "DirectoryListing",
    "FileEntry",
    "FilesystemSecurity",
    "GlobResult",
    "GrepMatch",
    "GrepResult",
    "PermissionPolicy",
    "Rule",
    "RuleError",
    "SandboxError",
    "Tool",
    "append_file",
    "as_tool",
    "builtin_tools",
    "cap_text",
    "copy_file",
    "delete_file",
    "describe_rule",
    "edit_file",
    "file_info",
    "glob_search",
    "grep_search",
    "list_directory",
    "move_file",
    "policy_from_settings",
    "read_file",
    "run_bash",
    "safe_environment",
    "sandbox_from_settings",
    "scrub_own_environment",
    "suggest_rule",
    "tool_from_function",
    "tools_from_settings",
    "write_file",
]
