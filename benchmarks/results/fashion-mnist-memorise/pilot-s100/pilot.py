import sys, time
from pathlib import Path
from obliviate.classifier.bench import ClassifierBench
from obliviate.bench.run import run_suite
b = ClassifierBench(dataset="fashion-mnist", recipe="recipes/fashion-mnist-memorise.toml", max_train=int(sys.argv[1]),
                    methods=["retrain", "finetune"], seeds=[100], cache_dir="/tmp/mem/cache",
                    train={k: float(v) if "." in v else int(v) for k, v in (a.split("=") for a in sys.argv[3:])})
t = time.time()
doc = run_suite("pilot", [b], Path(sys.argv[2]), "pilot")
for r in doc["rows"] if "rows" in doc else []:
    print(r.get("method"), r.get("metrics"))
print("elapsed", time.time() - t)
