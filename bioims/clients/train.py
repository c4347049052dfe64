"""Client of the train service (docs/original.md §6.2 TrainClient), with the original's method names.

`train` takes booleans (strings "true"/"false" still work) and returns the execution; the
original's `startTrainingBuild` / `startTrainingCompute` (direct Lambda calls that could not work,
docs/original.md §8.2 #14, §8.6 #46) are the train workflow's steps here, reachable as
`buildTrainingSet` and `trainingJobRequest`, or all together through `resumeTraining`."""

from __future__ import annotations

from bioims.clients.base import ServiceClient


class TrainClient(ServiceClient):
    def train(
        self,
        embeddingName: str,
        filterBucket: str = "",
        filterKey: str = "",
        executeProcessPlate: bool | str = False,
        useSpot: bool | str = True,
        wait: bool = True,
    ) -> dict:
        """Create a training and run the train workflow: {trainId, executionArn, status?}."""
        return self.call(
            "train",
            embeddingName=embeddingName,
            filterBucket=filterBucket,
            filterKey=filterKey,
            executeProcessPlate=executeProcessPlate,
            useSpot=useSpot,
            wait=wait,
        )

    def trainLeaveOneCompoundOut(
        self, embeddingName: str, compounds: list[str] | None = None, wait: bool = True
    ) -> list[dict]:
        return self.call("trainLeaveOneCompoundOut", embeddingName=embeddingName, compounds=compounds, wait=wait)[
            "trainings"
        ]

    def resumeTraining(self, trainId: str, wait: bool = True) -> dict:
        return self.call("resumeTraining", trainId=trainId, wait=wait)

    def getTrainingStatus(self, trainId: str) -> dict:
        return self.call("getTrainingStatus", trainId=trainId)

    def listTrainings(self, embeddingName: str) -> list[dict]:
        return self.call("listTrainings", embeddingName=embeddingName)["trainings"]

    def startTrainingBuild(self, trainId: str) -> dict:
        """The training set of a training (the original's train-build step)."""
        return self.call("buildTrainingSet", trainId=trainId)

    def startTrainingCompute(self, trainId: str) -> dict:
        """The training job request of a built training (the original's train-compute step);
        the job itself runs inside the train workflow (`resumeTraining`)."""
        return self.call("trainingJobRequest", trainId=trainId)
