"""Assertions on the key resources of the synthesised templates: what the original got wrong
(docs/original.md §8.1, §8.2, §8.7) must be right here."""

from __future__ import annotations

import json

import pytest
from aws_cdk import aws_s3 as s3
from conftest import as_list, statements

from bioims import resources, tables
from bioims.discovery import STATE_MACHINE_LOOKUPS, workflow_prefix
from bioims.workflows.definitions import WORKFLOWS
from stacks.network import VPC_CIDR
from stacks.queues import MAX_RECEIVE_COUNT

WORKFLOW_NAMES = tuple(WORKFLOWS)


def _ref_id(value) -> str:
    """The logical id a Ref/GetAtt points at."""
    if isinstance(value, dict) and "Ref" in value:
        return value["Ref"]
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return value["Fn::GetAtt"][0]
    raise AssertionError(f"not a reference: {value}")


# --- tables ---------------------------------------------------------------------------------------
def test_every_table_spec_is_deployed_with_its_keys_and_indexes(assembly):
    deployed = {}
    for resource in assembly.resources("AWS::DynamoDB::Table", "Storage").values():
        props = resource["Properties"]
        keys = {k["KeyType"]: k["AttributeName"] for k in props["KeySchema"]}
        deployed[(keys["HASH"], keys["RANGE"])] = props
    assert len(deployed) == len(tables.ALL_TABLES)
    for spec in tables.ALL_TABLES:
        props = deployed[(spec.partition_key, spec.sort_key)]
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert props["SSESpecification"]["SSEEnabled"] is True
        assert props["DeletionProtectionEnabled"] is True
        indexes = {
            gsi["IndexName"]: ({k["KeyType"]: k["AttributeName"] for k in gsi["KeySchema"]}, gsi["Projection"])
            for gsi in props.get("GlobalSecondaryIndexes", [])
        }
        assert set(indexes) == {index.name for index in spec.indexes}, spec.name
        for index in spec.indexes:
            key_schema, projection = indexes[index.name]
            assert key_schema == {"HASH": index.partition_key, "RANGE": index.sort_key}
            assert projection == {"ProjectionType": "ALL"}
        types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
        assert set(types.values()) == {"S"}


def test_tables_are_retained_by_default(assembly):
    for resource in assembly.resources("AWS::DynamoDB::Table").values():
        assert resource["DeletionPolicy"] == "Retain"


# --- buckets --------------------------------------------------------------------------------------
def test_buckets_are_private_encrypted_tls_only_and_logged(assembly):
    buckets = assembly.resources("AWS::S3::Bucket", "Storage")
    assert len(buckets) == 3  # data, resource, access logs
    policies = assembly.resources("AWS::S3::BucketPolicy", "Storage")
    denied = {}
    for policy in policies.values():
        target = _ref_id(policy["Properties"]["Bucket"])
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Deny":
                denied.setdefault(target, []).append(statement["Condition"])
    logged = 0
    for key, bucket in buckets.items():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
            "SSEAlgorithm": "AES256"
        }
        conditions = denied[key.split("/", 1)[1]]
        assert {"Bool": {"aws:SecureTransport": "false"}} in conditions
        assert {"NumericLessThan": {"s3:TlsVersion": 1.2}} in conditions
        logged += "LoggingConfiguration" in props
    assert logged == 2


def test_existing_buckets_are_imported_not_created():
    from stacks.app_builder import create_app

    _, deployment = create_app(
        context={"existingDataBucket": "lab-data-bucket", "resourceBucketName": "lab-resources"}, env={}
    )
    storage = deployment.storage
    assert storage.buckets.data.bucket_name == "lab-data-bucket"
    created = [c for c in storage.node.find_all() if isinstance(c, s3.Bucket)]
    assert sorted(c.node.scope.node.id for c in created) == ["AccessLogBucket", "ResourceBucket"]
    resource = next(c for c in created if c.node.scope.node.id == "ResourceBucket")
    assert resource.node.default_child.bucket_name == "lab-resources"


# --- network --------------------------------------------------------------------------------------
def test_one_vpc_private_subnets_and_gateway_endpoints(full_assembly):
    vpcs = full_assembly.resources("AWS::EC2::VPC")
    assert len(vpcs) == 1
    assert next(iter(vpcs.values()))["Properties"]["CidrBlock"] == VPC_CIDR
    assert len(full_assembly.resources("AWS::EC2::NatGateway")) == full_assembly.deployment.settings.nat_gateways
    endpoints = full_assembly.resources("AWS::EC2::VPCEndpoint")
    services = sorted(json.dumps(e["Properties"]["ServiceName"]) for e in endpoints.values())
    assert len(services) == 2 and "dynamodb" in services[0] and "s3" in services[1]
    assert full_assembly.resources("AWS::EC2::FlowLog")


def test_nothing_is_reachable_from_the_internet(full_assembly):
    for sg in full_assembly.resources("AWS::EC2::SecurityGroup").values():
        for rule in sg["Properties"].get("SecurityGroupIngress", []):
            assert rule.get("CidrIp") not in ("0.0.0.0/0",) and rule.get("CidrIpv6") != "::/0", rule
    for rule in full_assembly.resources("AWS::EC2::SecurityGroupIngress").values():
        assert "CidrIp" not in rule["Properties"] or rule["Properties"]["CidrIp"] == VPC_CIDR
    for service in full_assembly.resources("AWS::ECS::Service").values():
        network = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert network["AssignPublicIp"] == "DISABLED"
    assert not full_assembly.resources("AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert not full_assembly.resources("AWS::ApiGateway::RestApi")
    assert not full_assembly.resources("AWS::EC2::Instance")


# --- queues ---------------------------------------------------------------------------------------
def test_queues_are_fifo_encrypted_with_dead_letter_queues(assembly):
    queues = assembly.resources("AWS::SQS::Queue", "Queues")
    assert len(queues) == 4
    dead_letters = set()
    for queue in queues.values():
        props = queue["Properties"]
        assert props["FifoQueue"] is True
        assert props["SqsManagedSseEnabled"] is True
        if "RedrivePolicy" in props:
            assert props["RedrivePolicy"]["maxReceiveCount"] == MAX_RECEIVE_COUNT
            dead_letters.add(_ref_id(props["RedrivePolicy"]["deadLetterTargetArn"]))
            assert props["VisibilityTimeout"] >= 300
    assert len(dead_letters) == 2
    for policy in assembly.resources("AWS::SQS::QueuePolicy", "Queues").values():
        statement = policy["Properties"]["PolicyDocument"]["Statement"][0]
        assert statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


# --- Batch ----------------------------------------------------------------------------------------
def test_each_batch_queue_prefers_its_own_kind(assembly):
    environments = {
        key.split("/", 1)[1]: r["Properties"]["ComputeResources"]["Type"]
        for key, r in assembly.resources("AWS::Batch::ComputeEnvironment").items()
    }
    assert sorted(environments.values()) == ["EC2", "SPOT"]
    queues = {}
    for resource in assembly.resources("AWS::Batch::JobQueue").values():
        props = resource["Properties"]
        first = min(props["ComputeEnvironmentOrder"], key=lambda o: o["Order"])
        queues[environments[_ref_id(first["ComputeEnvironment"])]] = props["Priority"]
    assert set(queues) == {"EC2", "SPOT"}  # one queue tries on-demand first, the other spot first
    assert queues["EC2"] > queues["SPOT"]  # and on-demand jobs win the shared on-demand environment


def test_batch_instances_keep_job_code_away_from_the_instance_role(assembly):
    template = next(iter(assembly.resources("AWS::EC2::LaunchTemplate", "Batch").values()))
    data = template["Properties"]["LaunchTemplateData"]
    assert data["MetadataOptions"] == {"HttpPutResponseHopLimit": 1, "HttpTokens": "required"}
    assert all(m["Ebs"]["Encrypted"] for m in data["BlockDeviceMappings"])


def test_job_definitions_run_unprivileged_with_their_own_roles(full_assembly):
    definitions = full_assembly.resources("AWS::Batch::JobDefinition")
    roles = set()
    for definition in definitions.values():
        props = definition["Properties"]
        container = props["ContainerProperties"]
        assert container.get("Privileged", False) is False
        roles.add(_ref_id(container["JobRoleArn"]))
        env = {e["Name"]: e["Value"] for e in container["Environment"]}
        assert env["BIOIMS_BACKEND"] == "aws" and env["BIOIMS_DEPLOYMENT"] == "bioims"
        # a job's parts run on as many processes as the job has vCPUs (bioims.runtime.aws.container_cpus)
        vcpus = [r["Value"] for r in container["ResourceRequirements"] if r["Type"] == "VCPU"]
        assert [env["BIOIMS_WORKERS"]] == vcpus
        assert props["RetryStrategy"]["Attempts"] >= 2
        assert props["Timeout"]["AttemptDurationSeconds"] > 0
    assert len(roles) == len(definitions) == 3


def test_job_roles_get_what_their_code_needs_and_no_more(full_assembly):
    template = full_assembly.template("Batch")
    by_role = {}
    for logical_id, statement in statements(template):
        by_role.setdefault(logical_id, []).append(statement)
    text = {k: json.dumps(v) for k, v in by_role.items()}
    plate = next(v for k, v in text.items() if k.startswith("PlatePreprocessingJobJobRole"))
    embedding = next(v for k, v in text.items() if k.startswith("EmbeddingComputeJobJobRole"))
    assert "/artifact/plate/*/*" in plate and "TablesBioimsSearch" not in plate
    assert "s3:PutObject" in embedding and "/artifact/plate/*/*" not in embedding


# --- IAM ------------------------------------------------------------------------------------------
def test_no_wildcard_actions_no_iam_users_no_broad_pass_role(full_assembly):
    assert not full_assembly.resources("AWS::IAM::User")
    for stack, template in full_assembly.templates.items():
        for logical_id, statement in statements(template):
            if statement["Effect"] != "Allow":
                continue
            actions = as_list(statement["Action"])
            resources_ = as_list(statement["Resource"])
            assert not any(a == "*" or a.endswith(":*") for a in actions), (stack, logical_id, actions)
            if "*" in resources_:
                assert not any("*" in a for a in actions), (stack, logical_id, statement)
                assert "iam:PassRole" not in actions, (stack, logical_id)


# --- training -------------------------------------------------------------------------------------
def test_lustre_is_linked_to_the_data_bucket_and_reachable_only_from_training(full_assembly):
    file_system = next(iter(full_assembly.resources("AWS::FSx::FileSystem").values()))["Properties"]
    config = file_system["LustreConfiguration"]
    assert config["DeploymentType"] == "SCRATCH_2"
    assert config["AutoImportPolicy"] == "NEW_CHANGED_DELETED"
    assert "DataBucket" in json.dumps(config["ImportPath"])
    assert file_system["StorageCapacity"] == full_assembly.deployment.settings.lustre_storage_gib
    template = full_assembly.template("Training")
    lustre_sg = _ref_id(file_system["SecurityGroupIds"][0])
    sources = set()
    for rule in full_assembly.resources("AWS::EC2::SecurityGroupIngress", "Training").values():
        props = rule["Properties"]
        if _ref_id(props["GroupId"]) == lustre_sg:
            assert (props["FromPort"], props["ToPort"]) == (988, 1023)
            sources.add(
                template["Resources"][_ref_id(props["SourceSecurityGroupId"])]["Properties"]["GroupDescription"]
            )
    assert any(s.startswith("SageMaker training") for s in sources)


def test_sagemaker_has_its_own_role(full_assembly):
    template = full_assembly.template("Training")
    roles = {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
    sagemaker = [
        k
        for k, r in roles.items()
        if "sagemaker.amazonaws.com" in json.dumps(r["Properties"]["AssumeRolePolicyDocument"])
    ]
    assert len(sagemaker) == 1
    trust = roles[sagemaker[0]]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "sagemaker.amazonaws.com"}]
    prefix = sagemaker[0][:-8]  # the role's logical id without its hash: its policies share it
    granted = json.dumps([s for k, s in statements(template) if k.startswith(prefix)])
    assert "iam:PassRole" not in granted and "ecr:BatchGetImage" in granted and "s3:PutObject" in granted


# --- search service -------------------------------------------------------------------------------
def test_search_service_is_one_internal_fargate_task(full_assembly):
    service = next(iter(full_assembly.resources("AWS::ECS::Service").values()))["Properties"]
    assert service["LaunchType"] == "FARGATE" and service["DesiredCount"] == 1
    assert service["DeploymentConfiguration"]["MaximumPercent"] == 100
    assert service["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    namespace = next(iter(full_assembly.resources("AWS::ServiceDiscovery::PrivateDnsNamespace").values()))
    assert namespace["Properties"]["Name"] == "bioims.bioims.internal"
    task = next(iter(full_assembly.resources("AWS::ECS::TaskDefinition").values()))["Properties"]
    settings = full_assembly.deployment.settings
    assert (task["Cpu"], task["Memory"]) == (str(settings.search_cpu), str(settings.search_memory_mib))
    (container,) = task["ContainerDefinitions"]
    assert "/health" in " ".join(container["HealthCheck"]["Command"])
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert env["BIOIMS_SEARCH_PORT"] == str(settings.search_port) and env["BIOIMS_SEARCH_MAX_RECEIVES"] == str(
        MAX_RECEIVE_COUNT
    )
    granted = json.dumps([s for _, s in statements(full_assembly.template("SearchService"))])
    assert "sqs:ReceiveMessage" in granted and "sqs:SendMessage" not in granted


# --- publication ----------------------------------------------------------------------------------
FIXED_SLOTS = (
    resources.DATA_BUCKET,
    resources.RESOURCE_BUCKET,
    resources.SEARCH_QUEUE,
    resources.MANAGEMENT_QUEUE,
    resources.BATCH_ON_DEMAND_QUEUE,
    resources.BATCH_SPOT_QUEUE,
    resources.SAGEMAKER_ROLE_ARN,
    resources.FSX_FILE_SYSTEM_ID,
    resources.FSX_MOUNT_NAME,
    resources.TRAINING_SUBNETS,
    resources.TRAINING_SECURITY_GROUP,
    *(resources.table_slot(spec.name) for spec in tables.ALL_TABLES),
)
COMPLETE_SLOTS = (
    resources.TRAINING_IMAGE_URI,
    resources.SEARCH_SERVICE_URL,
    *(
        resources.job_definition_slot(job)
        for job in ("plate-preprocessing", "image-preprocessing", "embedding-compute")
    ),
)


def _published(synthesis) -> tuple[dict[str, object], dict[str, object]]:
    outputs, parameters = {}, {}
    for template in synthesis.templates.values():
        for output in template.get("Outputs", {}).values():
            description = output.get("Description", "")
            if description.startswith("slot:"):
                outputs[description[5:]] = output["Value"]
        for resource in template["Resources"].values():
            if resource["Type"] == "AWS::SSM::Parameter":
                parameters[resource["Properties"]["Name"]] = resource["Properties"]["Value"]
    return outputs, parameters


@pytest.mark.parametrize(
    "which, expected", [("assembly", FIXED_SLOTS), ("full_assembly", FIXED_SLOTS + COMPLETE_SLOTS)]
)
def test_every_slot_is_an_output_and_an_ssm_parameter_with_the_same_value(which, expected, request):
    synthesis = request.getfixturevalue(which)
    outputs, parameters = _published(synthesis)
    deployment = synthesis.deployment
    services = deployment.services.functions.functions if deployment.services else {}
    expected = (
        *expected,
        *(resources.function_slot(s) for s in services),
        *(resources.state_machine_slot(w) for w in deployment.planned_workflows),
    )
    assert set(expected) <= set(outputs)
    for slot, value in outputs.items():
        assert parameters[resources.ssm_parameter_name("bioims", slot)] == value, slot
    assert len(parameters) == len(outputs)


# --- service functions ----------------------------------------------------------------------------
def test_one_image_function_per_deployable_service(full_assembly):
    from stacks.functions import FUNCTION_SIZES, handler_module

    template = full_assembly.template("Services")
    functions = {
        r["Properties"]["ImageConfig"]["Command"][0]: r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
    }
    services = list(full_assembly.deployment.services.functions.functions)
    assert set(functions) == {f"{handler_module(s)}.handler" for s in services}
    assert {"configuration", "image-management", "process-plate"} <= set(services)
    for service in services:
        props = functions[f"{handler_module(service)}.handler"]
        assert props["PackageType"] == "Image"
        assert (props["MemorySize"], props["Timeout"]) == (
            FUNCTION_SIZES[service].memory_mb,
            FUNCTION_SIZES[service].timeout_seconds,
        )
        variables = props["Environment"]["Variables"]
        assert variables["BIOIMS_BACKEND"] == "aws" and variables["BIOIMS_SERVICES"] == "inprocess"
        assert "LogGroup" in props["LoggingConfig"]
    images = json.loads((full_assembly.outdir / "bioims-Services.assets.json").read_text())["dockerImages"]
    assert len(images) == 1 and next(iter(images.values()))["source"]["dockerFile"] == "lambdas/Dockerfile"


def _role_statements(template: dict, role_prefix: str) -> str:
    return json.dumps([s for k, s in statements(template) if k.startswith(role_prefix)])


def test_function_roles_follow_the_access_table(full_assembly):
    template = full_assembly.template("Services")
    for role in full_assembly.resources("AWS::IAM::Role", "Services").values():
        assert "ManagedPolicyArns" not in role["Properties"]
    label = _role_statements(template, "ServicesLabelFunctionRole")
    assert "TablesBioimsLabel" in label and "TablesBioimsImageManagement" not in label
    assert "states:" not in label and "s3:" not in label
    process = _role_statements(template, "ServicesProcessPlateFunctionRole")
    started = {w for w in WORKFLOW_NAMES if f'stateMachine:{workflow_prefix(w)}-bioims"' in process}
    assert started == {"upload-source-plate", "process-plate"}
    search = _role_statements(template, "ServicesSearchFunctionRole")
    assert "sqs:SendMessage" in search and "sqs:ReceiveMessage" not in search


# --- workflows ------------------------------------------------------------------------------------
def test_state_machines_are_named_logged_traced_and_scoped(full_assembly):
    deployment = full_assembly.deployment
    template = full_assembly.template("Workflows")
    machines = {
        r["Properties"]["StateMachineName"]: r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::StepFunctions::StateMachine"
    }
    assert set(machines) == {f"{workflow_prefix(w)}-bioims" for w in deployment.planned_workflows}
    assert {"upload-source-plate", "process-plate"} <= set(deployment.planned_workflows)
    for props in machines.values():
        assert props["StateMachineType"] == "STANDARD"
        assert props["LoggingConfiguration"]["Level"] == "ALL"
        assert props["TracingConfiguration"] == {"Enabled": True}
    upload = _role_statements(template, "UploadSourcePlateWorkflowRole")
    assert "lambda:InvokeFunction" in upload and "batch:SubmitJob" not in upload
    assert "ServicesImageArtifactFunction" in upload and "ServicesLabelFunction" not in upload
    process = _role_statements(template, "ProcessPlateWorkflowRole")
    assert "batch:SubmitJob" in process and "StepFunctionsGetEventsForBatchJobsRule" in process


def test_the_original_clients_prefix_look_ups_find_the_state_machines(full_assembly):
    """The original's client takes the first ListStateMachines entry whose name starts with its
    prefix (docs/original.md §6); with every machine of the deployment listed, in either order, each of its
    four look-ups must land on the workflow that does that work, and only on it."""
    template = full_assembly.template("Workflows")
    by_name = {
        r["Properties"]["StateMachineName"]: logical
        for logical, r in template["Resources"].items()
        if r["Type"] == "AWS::StepFunctions::StateMachine"
    }
    stack = full_assembly.deployment.workflows
    for method, (prefix, workflow) in STATE_MACHINE_LOOKUPS.items():
        matches = [name for name in sorted(by_name) if name.startswith(prefix)]
        assert len(matches) == 1, (method, matches)
        assert by_name[matches[0]] == stack.get_logical_id(stack.machines[workflow].state_machine.node.default_child)


def test_client_policy_lets_users_call_services_and_upload_but_not_write_results(full_assembly):
    template = full_assembly.template("Services")
    (policy,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::ManagedPolicy"]
    assert not {"Users", "Roles", "Groups"} & set(policy["Properties"])  # attached by the operator
    by_action = {}
    for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
        for action in as_list(statement["Action"]):
            by_action.setdefault(action, []).append(json.dumps(statement["Resource"]))
    assert len(by_action["lambda:InvokeFunction"][0].split("Function")) > len(
        full_assembly.deployment.services.functions.functions
    )
    (writable,) = by_action["s3:PutObject"]
    assert "BucketsResourceBucket" in writable and "BucketsDataBucket" not in writable
    assert "BucketsDataBucket" in " ".join(by_action["s3:GetObject"])
    assert not full_assembly.resources("AWS::IAM::User")


def test_training_can_be_left_out():
    from stacks.app_builder import create_app

    _, deployment = create_app(context={"enableTraining": "false"}, env={})
    assert deployment.training is None
    names = {s.stack_name for s in deployment.stacks}
    assert "bioims-Training" not in names and "bioims-Storage" in names
    assert "train" not in deployment.planned_workflows
