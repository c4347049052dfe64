"""The web UI inside the search service's Fargate task (docs/ui.md "On AWS"): the synthesised
template sets its port, turns on ECS Exec for SSM port forwarding, opens no port to anyone, and
gives the task role the UI's read access and nothing wider."""

from __future__ import annotations

from fnmatch import fnmatchcase

from conftest import as_list, statements

from bioims import keys, tables
from stacks import access
from stacks.grants import OBJECT_WRITE, TABLE_READ, TABLE_WRITE
from stacks.nag import flatten_reference

SSM_CHANNELS = {
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
}


def _one(synthesis, type_name: str) -> dict:
    (resource,) = synthesis.resources(type_name, "SearchService").values()
    return resource["Properties"]


def _task_role_statements(synthesis) -> list[dict]:
    template = synthesis.template("SearchService")
    task = _one(synthesis, "AWS::ECS::TaskDefinition")
    role_id = task["TaskRoleArn"]["Fn::GetAtt"][0]
    policies = [
        logical_id
        for logical_id, r in template["Resources"].items()
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in r["Properties"]["Roles"]
    ]
    assert policies, "the task role has no policy"
    return [s for logical_id, s in statements(template) if logical_id in policies]


def _granted(found: list[dict]) -> list[tuple[set[str], list[str]]]:
    """(actions, flattened resources) of each Allow statement."""
    return [
        (set(as_list(s["Action"])), [flatten_reference(r) for r in as_list(s["Resource"])])
        for s in found
        if s["Effect"] == "Allow"
    ]


def test_the_task_runs_the_ui_on_the_configured_port_without_exposing_it(full_assembly):
    settings = full_assembly.deployment.settings
    (container,) = _one(full_assembly, "AWS::ECS::TaskDefinition")["ContainerDefinitions"]
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert env["BIOIMS_UI_PORT"] == str(settings.ui_port) == "8765"
    assert "BIOIMS_UI_HOST" not in env  # the UI binds the task's loopback (its default), never 0.0.0.0
    assert [m["ContainerPort"] for m in container["PortMappings"]] == [settings.search_port]
    assert container["LinuxParameters"]["InitProcessEnabled"] is True
    # the task's only way in is the search API port from its clients' group; the UI port has none
    ports = [
        (r["Properties"].get("FromPort"), r["Properties"].get("ToPort"))
        for r in full_assembly.resources("AWS::EC2::SecurityGroupIngress", "SearchService").values()
    ]
    for group in full_assembly.resources("AWS::EC2::SecurityGroup", "SearchService").values():
        ports += [
            (rule.get("FromPort"), rule.get("ToPort")) for rule in group["Properties"].get("SecurityGroupIngress", [])
        ]
    assert ports == [(settings.search_port, settings.search_port)]
    # no load balancer or public address anywhere near the service
    assert not full_assembly.resources("AWS::ElasticLoadBalancingV2::LoadBalancer")
    network = _one(full_assembly, "AWS::ECS::Service")["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "DISABLED"


def test_ecs_exec_is_on_and_its_channels_are_the_only_unscoped_grant(full_assembly):
    assert _one(full_assembly, "AWS::ECS::Service")["EnableExecuteCommand"] is True
    granted = _granted(_task_role_statements(full_assembly))
    unscoped = [actions for actions, resources in granted if "*" in resources]
    assert unscoped == [SSM_CHANNELS]


def test_the_task_role_reads_what_the_ui_shows_and_writes_nothing_new(full_assembly):
    granted = _granted(_task_role_statements(full_assembly))
    every_action = set().union(*(actions for actions, _ in granted))
    assert not any(a.startswith("lambda:") for a in every_action)  # services run in-process in the task

    def tables_with(action: str) -> set[str]:
        return {flatten_reference(r) for actions, rs in granted if action in actions for r in rs}

    # table ARNs are imported from the storage stack under exports named after the table's logical id
    for spec in (tables.IMAGE_MANAGEMENT, tables.ARTIFACT, tables.MESSAGE, tables.TAG, tables.TRAINING_CONFIGURATION):
        assert any(f"Tables{spec.name}Table" in r for r in tables_with("dynamodb:Query")), spec.name
    # the UI lists an image's artifacts: that table is read-only here (the search service never wrote it)
    assert not any(f"Tables{tables.ARTIFACT.name}Table" in r for r in tables_with("dynamodb:PutItem"))
    readable = [r for actions, rs in granted if "s3:GetObject" in actions for r in rs]
    writable = [r for actions, rs in granted if set(OBJECT_WRITE) & actions for r in rs]
    for key in (
        keys.thumbnail_key("P1", "I1", "thumbnail-2d.png"),
        keys.thumbnail_key("P1", "I1", "medium-2d.png"),
        keys.report_prefix("T1") + "metrics.json",
        keys.model_card_key("T1"),
    ):
        assert any(fnmatchcase(key, r.split("/", 1)[1]) for r in readable if "/" in r), key
        assert not any(fnmatchcase(key, r.split("/", 1)[1]) for r in writable if "/" in r), key
    # writes stay where the search service itself writes: index snapshots and loader inputs
    assert all(r.endswith("/" + access.SEARCH_OBJECTS) for r in writable)


def test_web_ui_needs_are_read_only():
    ui = access.needs_of("web-ui")
    assert ui.read_tables == {
        spec.name
        for spec in (
            tables.IMAGE_MANAGEMENT,
            tables.ARTIFACT,
            tables.MESSAGE,
            tables.TAG,
            tables.TRAINING_CONFIGURATION,
        )
    }
    assert not (ui.write_tables or ui.write_objects or ui.send_queues or ui.consume_queues or ui.start_workflows)
    assert set(TABLE_READ).isdisjoint(TABLE_WRITE)


def test_the_stack_outputs_the_ecs_exec_targets(full_assembly):
    outputs = full_assembly.template("SearchService")["Outputs"]
    cluster_id = next(
        k for k in full_assembly.template("SearchService")["Resources"] if k.startswith("SearchServiceCluster")
    )
    assert outputs["SearchClusterName"]["Value"] == {"Ref": cluster_id}
    service_id = _one_id(full_assembly, "AWS::ECS::Service")
    assert outputs["SearchServiceName"]["Value"] == {"Fn::GetAtt": [service_id, "Name"]}
    assert outputs["UiPort"]["Value"] == str(full_assembly.deployment.settings.ui_port)


def _one_id(synthesis, type_name: str) -> str:
    (key,) = synthesis.resources(type_name, "SearchService")
    return key.split("/", 1)[1]
