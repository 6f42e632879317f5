def test_tools(prometheus_tools):
    print(prometheus_tools)
