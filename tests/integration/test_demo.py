import io

from dynamo_continuous_backup.cli.demo import Demo
from dynamo_continuous_backup.cli.main import UI


def test_make_demo_tells_the_whole_story() -> None:
    # The demo starts its own emulator on a free port, so it runs beside the test server.
    out = io.StringIO()
    code = Demo(UI(out, out)).run()
    text = out.getvalue()
    assert code == 0, text
    assert "orders protected" in text and "scratch-cache  no" in text
    assert "MODIFY id=order-1  status new -> shipped" in text
    assert "delivery streams left: none; change records still in S3: 8" in text
    assert "restored orders at" in text and "4 items" in text and " verified" in text
    assert "order-1  total=10  status=shipped" in text and "order-4" not in text.split("restore orders")[-1]
    assert "warning" not in text
