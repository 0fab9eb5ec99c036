"""The policy pack's entry point. `PolicyPack(...)` starts the analyzer's gRPC server and never
returns, so it is built here only; the policies live in `microstack_policies`, which tests import.
"""

from microstack_policies import POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(name="microstack", enforcement_level=EnforcementLevel.MANDATORY, policies=POLICIES)
