"""What a recipe's ``task`` decides, in one class per task: its data, its model's input and
head, its loss and metrics, its extra test metrics, its export signatures, its report
figures and its search space. The engine, the export, the report and the tuner ask the
task; none of them branches on the task's name. A new task is one registered class.

    classification   images -> class probabilities (the image classifiers)   tasks/images.py
    autoencoder      images -> their reconstruction in [0, 1]                 tasks/images.py
    char_rnn         character ids -> next-character logits (text generator)  tasks/text.py
"""

from kdl.tasks import images, text  # noqa: F401  (registers the tasks)
from kdl.tasks.base import DataBundle, Task, TestOutputs, get_task, list_tasks, register_task

__all__ = ["DataBundle", "Task", "TestOutputs", "get_task", "list_tasks", "register_task"]
