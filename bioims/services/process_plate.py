"""Process-plate service (docs/original.md §2.7): upload a source plate and start plate workflows.

`uploadSourcePlate` creates the plate's rows and runs the upload workflow (inspection, validation,
thumbnails); `processPlate` runs flat fields + ROIs for one embedding; `describeExecution` reports
either. Locally the workflows run to completion inside the call; on AWS they are Step Functions
executions. Fixed: processPlate requires the embedding (the original client omitted it), execution
names cannot exceed Step Functions' 80 characters.
"""

from __future__ import annotations

from bioims.errors import Conflict
from bioims.services.api import DescribeExecutionRequest, Request, Service, api
from bioims.services.image_management import UPLOAD_FINISHED, PopulateRequest
from bioims.services.models import EmbeddingName, Flag, Id, Name, Text


class UploadRequest(Request):
    inputBucket: Name
    inputKey: Text
    wait: Flag = True


class ProcessRequest(Request):
    plateId: Id
    embeddingName: EmbeddingName
    wait: Flag = True


class ProcessPlateService(Service):
    name = "process-plate"

    @api(UploadRequest, status=201)
    def uploadSourcePlate(self, request: UploadRequest) -> dict:
        """Create the plate's rows from the manifest, then inspect, validate and thumbnail it.
        Uploading a finished plate again answers 409 with its plateId; an interrupted upload is
        completed."""
        management = self.ctx.image_management
        try:
            created = management.populateSourcePlate(
                PopulateRequest(inputBucket=request.inputBucket, inputKey=request.inputKey)
            )
        except Conflict as exc:
            plate_id = exc.details.get("plateId")
            plate = management.plate(plate_id) if plate_id and not exc.details.get("differentContent") else {}
            if not plate or plate.get("uploadStatus") == UPLOAD_FINISHED:
                raise
            # Rows exist but the upload workflow never reached its end (a crash, a failed step):
            # run it again; its steps skip finished work.
            created = {"plateId": plate_id, "plateSourceId": plate.get("plateSourceId", ""), "resumed": True}
        execution = self.start_workflow("upload-source-plate", {"plateId": created["plateId"]}, request.wait)
        return {**created, **execution}

    @api(ProcessRequest)
    def processPlate(self, request: ProcessRequest) -> dict:
        self.ctx.training_configuration.embedding(request.embeddingName)
        self.ctx.image_management.plate(request.plateId)
        execution = self.start_workflow(
            "process-plate", {"plateId": request.plateId, "embeddingName": request.embeddingName}, request.wait
        )
        return {"plateId": request.plateId, "embeddingName": request.embeddingName, **execution}

    @api(DescribeExecutionRequest)
    def describeExecution(self, request: DescribeExecutionRequest) -> dict:
        return self.describe_execution(request)


__all__ = ["ProcessPlateService"]
